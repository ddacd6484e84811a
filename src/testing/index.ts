/** Test helpers published as `stitchnet/testing`. */
export {};
