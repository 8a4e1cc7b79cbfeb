// POST: disable demo mode. demo_service answers 202 with the job, 200 when already there, 409
// when the other operation is running; the answer is relayed as is.

import { changeDemoMode } from "@/lib/demo-server";
import { rejectCrossSite, sessionOrProblem } from "@/lib/route-guard";
import { relay } from "@/lib/upstream";

export async function POST(request: Request): Promise<Response> {
  const refused = rejectCrossSite(request);
  if (refused) return refused;
  const session = await sessionOrProblem();
  if (session instanceof Response) return session;
  return relay(await changeDemoMode(session.passport.token, "disable"));
}
