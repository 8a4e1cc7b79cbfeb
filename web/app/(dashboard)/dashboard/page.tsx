// The dashboard: a Server Component that awaits demo_service's one-call dashboard and renders
// metrics, platforms and demo state into the first HTML. No spinner: the server has the data.
// Only the two things a user acts on are client islands.

import type { Metadata } from "next";

import { EnableProcessingBanner } from "@/components/demo/EnableProcessingBanner";
import { PlatformConnectionButton } from "@/components/integrations/PlatformConnectionButton";
import { requireSession } from "@/lib/auth-server";
import { getDashboard } from "@/lib/demo-server";
import { formatCount, formatMoney } from "@/lib/format";

export const metadata: Metadata = { title: "Dashboard · pgstack" };

export default async function DashboardPage() {
  const passport = (await requireSession()).passport.token;
  // One round trip: demo_service answers everything this page shows in one call.
  const dashboard = await getDashboard(passport);
  const totals = dashboard.metrics;

  return (
    <main>
      <h1>Dashboard</h1>
      <EnableProcessingBanner initial={dashboard.demo} />

      <section className="card" data-testid="metrics">
        <h2>Last {dashboard.metrics.days} days</h2>
        <dl className="totals">
          <div>
            <dt>Impressions</dt>
            <dd data-testid="total-impressions">{formatCount(totals.impressions)}</dd>
          </div>
          <div>
            <dt>Clicks</dt>
            <dd data-testid="total-clicks">{formatCount(totals.clicks)}</dd>
          </div>
          <div>
            <dt>Spend</dt>
            <dd data-testid="total-spend">{formatMoney(totals.spend)}</dd>
          </div>
          <div>
            <dt>Conversions</dt>
            <dd data-testid="total-conversions">{formatCount(totals.conversions)}</dd>
          </div>
        </dl>
      </section>

      <section className="card" data-testid="platforms">
        <h2>Platforms</h2>
        {dashboard.platforms.length === 0 ? (
          <p className="muted">No platforms yet. Enable demo mode to add sample ones.</p>
        ) : (
          <table>
            <tbody>
              {dashboard.platforms.map((platform) => (
                <tr key={platform.id} data-testid="platform">
                  <td data-testid="platform-name">{platform.name}</td>
                  <td className="muted">{platform.kind}</td>
                  <td>
                    <PlatformConnectionButton platform={platform} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </main>
  );
}
