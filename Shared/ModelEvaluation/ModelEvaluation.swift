// ModelEvaluation measures what a variant costs against its reference: perplexity, KL
// divergence of next-token distributions, same-top-token rate, size, memory and speed.
