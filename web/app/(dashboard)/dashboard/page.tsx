// The dashboard: a Server Component that awaits demo_service's one-call dashboard and renders
// metrics, platforms and demo state into the first HTML. No spinner: the server has the data.
// Only the two things a user acts on are client islands.

import type { Metadata } from "next";

import { EnableProcessingBanner } from "@/components/demo/EnableProcessingBanner";
import { PlatformConnectionButton } from "@/components/integrations/PlatformConnectionButton";
import { requireSession } from "@/lib/auth-server";
import { getDashboard } from "@/lib/demo-server";
import { formatCount, formatMoney } from "@/lib/format";
import { getMetrics } from "@/lib/metrics-server";

export const metadata: Metadata = { title: "Dashboard · pgstack" };

const SERIES_DAYS = 7;

export default async function DashboardPage() {
  const { passport } = await requireSession();
  // Both in parallel: one round trip's time to demo_service.
  const [dashboard, recent] = await Promise.all([
    getDashboard(passport),
    getMetrics(passport, SERIES_DAYS),
  ]);
  const { totals } = dashboard.metrics;

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
        {recent.daily.length > 0 && (
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
              {recent.daily.map((day) => (
                <tr key={day.day}>
                  <td>{day.day}</td>
                  <td className="num">{formatCount(day.impressions)}</td>
                  <td className="num">{formatCount(day.clicks)}</td>
                  <td className="num">{formatMoney(day.spend)}</td>
                  <td className="num">{formatCount(day.conversions)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
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
