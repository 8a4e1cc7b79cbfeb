// The daily metrics of the last N days (?days=7..90), rendered on the server.

import type { Metadata } from "next";

import { requireSession } from "@/lib/auth-server";
import { formatCount, formatMoney } from "@/lib/format";
import { getMetrics } from "@/lib/metrics-server";

export const metadata: Metadata = { title: "Metrics · pgstack" };

const CHOICES = [7, 30, 90];

export default async function MetricsPage({ searchParams }: PageProps<"/metrics">) {
  const passport = (await requireSession()).passport.token;
  const asked = Number((await searchParams).days);
  const days = CHOICES.includes(asked) ? asked : 30;
  const metrics = await getMetrics(passport, days);

  return (
    <main>
      <h1>Metrics</h1>
      <p>
        {CHOICES.map((choice) => (
          <a key={choice} href={`/metrics?days=${choice}`} aria-current={choice === days}>
            {choice} days
          </a>
        )).flatMap((link, i) => (i ? [" · ", link] : [link]))}
      </p>
      <section className="card" data-testid="daily-metrics">
        <h2>Last {metrics.days} days</h2>
        <table>
          <thead>
            <tr>
              <th>Day</th>
              <th className="num">Impressions</th>
              <th className="num">Clicks</th>
              <th className="num">Spend</th>
              <th className="num">Conversions</th>
            </tr>
          </thead>
          <tbody>
            {metrics.daily.map((day) => (
              <tr key={day.day}>
                <td>{day.day}</td>
                <td className="num">{formatCount(day.impressions)}</td>
                <td className="num">{formatCount(day.clicks)}</td>
                <td className="num">{formatMoney(day.spend)}</td>
                <td className="num">{formatCount(day.conversions)}</td>
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr>
              <th>Total</th>
              <th className="num">{formatCount(metrics.totals.impressions)}</th>
              <th className="num">{formatCount(metrics.totals.clicks)}</th>
              <th className="num">{formatMoney(metrics.totals.spend)}</th>
              <th className="num">{formatCount(metrics.totals.conversions)}</th>
            </tr>
          </tfoot>
        </table>
      </section>
    </main>
  );
}
