// POST: enable demo mode. demo_service answers 202 with the job, 200 when already there, 409
// when the other operation is running; the answer is relayed as is.

import { changeDemoMode } from "@/lib/demo-server";
import { guarded } from "@/lib/route-guard";
import { relay } from "@/lib/upstream";

export const POST = guarded({ service: "The demo service", unsafe: true }, async ({ session }) =>
  relay(await changeDemoMode(session.passport.token, "enable")),
);
