// GET: the user's demo mode state (status, current job, error) from demo_service.

import { fetchDemoState } from "@/lib/demo-server";
import { guarded } from "@/lib/route-guard";
import { relay } from "@/lib/upstream";

export const GET = guarded({ service: "The demo service" }, async ({ session }) =>
  relay(await fetchDemoState(session.passport.token)),
);
