/** Plots: the Pareto plot, the comparison of packages, the simulation timeline (Vega-Lite, SVG/PNG). */
export {
  comparePlot,
  compareSpec,
  paretoPlot,
  paretoSpec,
  renderSvg,
  svgToPng,
  describeRoute,
  latencyView,
  SERIES_PALETTE,
} from './plot.js';
export type { CompareOptions, CompareSeries, PlotOptions } from './plot.js';
