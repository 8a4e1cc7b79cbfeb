// Number formats shared by the server-rendered page and the client islands.

const integer = new Intl.NumberFormat("en-US");
const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });

export function formatCount(value: number): string {
  return integer.format(value);
}

export function formatMoney(value: string | number): string {
  return money.format(Number(value));
}
