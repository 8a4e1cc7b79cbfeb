"""The demo workspace's fixture data: which platforms it has and the shape of their metrics
(steps.sql's `generate_demo_metrics` draws DEMO_DAYS days of them)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoPlatform:
    kind: str
    name: str
    # Shapes of the generated metrics: daily impressions, click-through rate, cost per click,
    # conversion rate; roughly what these networks look like for a small advertiser.
    impressions: int
    ctr: float
    cpc: float
    cvr: float


DEMO_PLATFORMS = (
    DemoPlatform("google_ads", "Google Ads", 12_000, 0.035, 1.20, 0.050),
    DemoPlatform("meta_ads", "Meta Ads", 20_000, 0.012, 0.70, 0.030),
    DemoPlatform("linkedin_ads", "LinkedIn Ads", 4_000, 0.006, 5.50, 0.060),
    DemoPlatform("tiktok_ads", "TikTok Ads", 30_000, 0.010, 0.35, 0.020),
)
DEMO_DAYS = 90
