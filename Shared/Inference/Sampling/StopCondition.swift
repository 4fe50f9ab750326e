import Tokenization

/// Why generation ended.
public enum StopReason: Sendable, Equatable {
    case endOfGeneration(Int32)
    case maxTokens
    case stopString(String)
}

/// Decides when generation stops: an end-of-generation token (unless ignored), the token
/// budget, or a stop string in the text. Feed it every sampled token; it returns the text
/// to show for that token, holding back anything that could still turn into a stop string.
public struct StopCondition: Sendable {
    public let parameters: SamplingParameters
    private let endOfGeneration: Set<Int32>
    private var detokenizer: StreamingDetokenizer
    private var matcher: StopStringMatcher
    public private(set) var generatedCount = 0
    public private(set) var reason: StopReason?

    public init(parameters: SamplingParameters, tokenizer: Tokenizer, renderSpecial: Bool = false) {
        self.parameters = parameters
        endOfGeneration = tokenizer.endOfGenerationTokenIDs
        detokenizer = StreamingDetokenizer(
            tokenizer: tokenizer, renderSpecial: renderSpecial, stripLeadingSpace: false)
        matcher = StopStringMatcher(stopStrings: parameters.stopStrings)
        if parameters.maxTokens == 0 { reason = .maxTokens }
    }

    public var isStopped: Bool { reason != nil }

    /// Registers one sampled token and returns the text that may be shown now.
    public mutating func accept(_ token: Int32) throws -> String {
        guard reason == nil else { return "" }
        generatedCount += 1
        if !parameters.ignoreEOS && endOfGeneration.contains(token) {
            reason = .endOfGeneration(token)
            return matcher.finish() + detokenizer.finish()
        }
        var text = matcher.append(try detokenizer.append(token))
        if let stop = matcher.matchedStopString {
            reason = .stopString(stop)
        } else if generatedCount >= parameters.maxTokens {
            reason = .maxTokens
            text += matcher.append(detokenizer.finish()) + matcher.finish()
            if let stop = matcher.matchedStopString { reason = .stopString(stop) }
        }
        return text
    }
}
