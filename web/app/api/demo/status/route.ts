// GET: the user's demo mode state (status, current job, error) from demo_service.

import { fetchDemoState } from "@/lib/demo-server";
import { sessionOrProblem } from "@/lib/route-guard";
import { relay } from "@/lib/upstream";

export async function GET(): Promise<Response> {
  const session = await sessionOrProblem();
  if (session instanceof Response) return session;
  return relay(await fetchDemoState(session.passport.token));
}
