/**
 * @layer entry
 * Counts every answered request and its duration by method, route pattern (not the raw path:
 * ids would explode the label set) and status, into the app's metrics registry.
 */
import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { MetricsRegistry } from '../metrics/registry.ts';

export function requestMetrics(metrics: MetricsRegistry): MiddlewareHandler {
  return async function countRequest(c, next) {
    const t0 = performance.now();
    await next();
    const labels = { method: c.req.method, route: routePath(c, -1) || c.req.path, status: String(c.res.status) };
    metrics.inc('sendense_http_requests_total', 'HTTP requests answered', labels);
    metrics.observe('sendense_http_request_duration_seconds', 'HTTP request duration', { method: labels.method, route: labels.route }, (performance.now() - t0) / 1000);
  };
}
