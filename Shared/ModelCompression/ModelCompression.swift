// ModelCompression makes compact variants of an imported model: requantized copies (every
// layer weight dequantized to floats, then quantized to the target type) and Wanda-pruned
// copies (calibrated by running text through Tessera's own engine).
