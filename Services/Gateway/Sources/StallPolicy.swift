/// How long a pipeline may take to answer one step before it counts as stalled (a stage
/// stopped, hung, or cut off): `multiplier` times what the step is expected to take, never
/// less than `floor` (scheduling noise, a cold first step) and never more than `ceiling`.
/// The expected time per token is what this session measured for its decode steps once it
/// has a few, before that the scheduler's prediction for the pipeline; a step of n tokens
/// (a prefill) is expected to take at most n decode steps.
struct StallPolicy: Sendable, Equatable {
    var multiplier = 5.0
    var floor: Duration = .seconds(2)
    var ceiling: Duration = .seconds(60)

    func limit(tokens: Int, secondsPerToken: Double?) -> Duration {
        guard let secondsPerToken, secondsPerToken > 0 else { return ceiling }
        let expected = Duration.seconds(secondsPerToken * Double(max(1, tokens)) * multiplier)
        return min(ceiling, max(floor, expected))
    }
}
