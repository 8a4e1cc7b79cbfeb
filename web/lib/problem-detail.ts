// What the browser shows for a failed call to this app's routes: the problem+json's detail
// (the services' words, relayed), else its title, else the status.

export async function problemDetail(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { detail?: string; title?: string };
    return body.detail ?? body.title ?? `Error ${response.status}`;
  } catch {
    return `Error ${response.status}`;
  }
}
