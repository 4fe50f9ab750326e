/// One model's measured costs against the reference.
public struct EvaluationRow: Sendable, Codable {
    /// The row's name: the reference's, or the variant's type (`Q4_K`, `Wanda 2:4 Q4_0`).
    public var label: String
    public var path: String
    public var fileBytes: Int
    /// Growth of this process's resident set from before loading the model to after serving
    /// a prompt and decoding from it: weights read, KV cache and workspace.
    public var residentBytes: Int
    /// A prompt of evaluation tokens in one call: the best of the interleaved rounds.
    public var prefillTokensPerSecond: Double
    /// Greedy decode, one token per call: 1 / the 20th-percentile step time of all rounds.
    public var decodeTokensPerSecond: Double
    public var perplexity: Double
    public var meanKLDivergence: Double
    public var sameTopTokenRate: Double
    public var questionsAnswered: Int
    public var questionCount: Int

    public init(
        label: String, path: String, fileBytes: Int, residentBytes: Int,
        prefillTokensPerSecond: Double, decodeTokensPerSecond: Double, perplexity: Double,
        meanKLDivergence: Double, sameTopTokenRate: Double, questionsAnswered: Int,
        questionCount: Int
    ) {
        self.label = label
        self.path = path
        self.fileBytes = fileBytes
        self.residentBytes = residentBytes
        self.prefillTokensPerSecond = prefillTokensPerSecond
        self.decodeTokensPerSecond = decodeTokensPerSecond
        self.perplexity = perplexity
        self.meanKLDivergence = meanKLDivergence
        self.sameTopTokenRate = sameTopTokenRate
        self.questionsAnswered = questionsAnswered
        self.questionCount = questionCount
    }
}

/// The whole evaluation: the reference first, then every variant, and what they were run on.
public struct EvaluationReport: Sendable, Codable {
    public var rows: [EvaluationRow]
    public var textPath: String
    public var contextLength: Int
    /// Evaluation tokens run (whole windows), and of those the scored ones.
    public var evaluationTokens: Int
    public var scoredTokens: Int
    public var threads: Int

    public init(
        rows: [EvaluationRow], textPath: String, contextLength: Int, evaluationTokens: Int,
        scoredTokens: Int, threads: Int
    ) {
        self.rows = rows
        self.textPath = textPath
        self.contextLength = contextLength
        self.evaluationTokens = evaluationTokens
        self.scoredTokens = scoredTokens
        self.threads = threads
    }
}
