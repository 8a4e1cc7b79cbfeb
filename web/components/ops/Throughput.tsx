// A queue's throughput over the last hour as a small bar chart, drawn on the server: twelve
// bars, the jobs finished in each five minutes, oldest first (job_service's `throughput`).

const BAR = 8;
const GAP = 2;
const HEIGHT = 24;

export function Throughput({ counts }: { counts: number[] }) {
  const highest = Math.max(1, ...counts);
  const total = counts.reduce((sum, count) => sum + count, 0);
  const width = counts.length * (BAR + GAP) - GAP;
  return (
    <svg
      className="ops-throughput"
      width={width}
      height={HEIGHT}
      viewBox={`0 0 ${width} ${HEIGHT}`}
      role="img"
      aria-label={`${total} jobs finished in the last hour, per 5 minutes: ${counts.join(", ")}`}
      data-testid="queue-throughput"
      data-counts={counts.join(",")}
    >
      {counts.map((count, i) => {
        // A bar of at least one pixel for any finished job, so a quiet bucket differs from none.
        const height = count === 0 ? 0 : Math.max(1, Math.round((count / highest) * HEIGHT));
        const minutesAgo = (counts.length - i) * 5;
        return (
          <rect key={i} x={i * (BAR + GAP)} y={HEIGHT - height} width={BAR} height={height}>
            <title>{`${count} finished ${minutesAgo}–${minutesAgo - 5} min ago`}</title>
          </rect>
        );
      })}
      <line x1={0} y1={HEIGHT - 0.5} x2={width} y2={HEIGHT - 0.5} className="ops-axis" />
    </svg>
  );
}
