/** Dataset readers: IDX (gzipped or not), .npy, folders of images. */
export { openDataset, parseIdx, parseNpy } from './datasets.js';
export type { Dataset, DataSource, InputSpec, OpenDatasetOptions } from './datasets.js';
