/** Metrics: the renderer of Prometheus text and the way structures describe their stats. */
export { renderMetrics, metricsHandler, type MetricsSource, type MetricsOptions } from "./render.ts";
export { describeStats, descriptionOf, type MetricType, type StatSpec, type StatSpecs, type MetricsDescription, type ChildSource } from "./describe.ts";
