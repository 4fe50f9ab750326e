/// Prompts a canary sends: ordinary requests of the kind users send, so nothing in them
/// tells a worker it is being tested. Short answers keep a canary's replay cheap.
enum CanaryPrompts {
    static let pool = [
        "Write one sentence about the sea.",
        "What is the capital of France?",
        "List three colours of the rainbow.",
        "Explain what a prime number is in one sentence.",
        "Give me a synonym for happy.",
        "How many days are in a leap year?",
        "Translate 'good morning' into Spanish.",
        "Name a planet in the solar system.",
        "What does a bee make?",
        "Complete the sentence: The quick brown fox",
        "Suggest a name for a small cat.",
        "What is two plus two?",
    ]

    /// Tokens a canary asks for: enough to cover several decode steps.
    static let maxTokens: UInt32 = 24
}
