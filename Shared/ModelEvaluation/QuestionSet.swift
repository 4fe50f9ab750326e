import Foundation
import Inference
import Tokenization

/// Questions with short known answers (questions.json): how often a variant still answers
/// what the reference knows, a crude measure of how often it starts to make things up.
public struct QuestionSet: Decodable, Sendable {
    public struct Question: Decodable, Sendable {
        public let question: String
        public let answers: [String]
    }

    public let maxTokens: Int
    public let questions: [Question]

    /// The set built into the tool.
    public static func builtIn() throws -> QuestionSet {
        try JSONDecoder().decode(QuestionSet.self, from: Data(PackageResources.questions_json))
    }

    /// True when one of the answers appears as whole words in the reply: both are lowered
    /// and every run of characters other than letters and digits becomes one space.
    public static func matches(reply: String, answers: [String]) -> Bool {
        let text = " " + normalized(reply) + " "
        return answers.contains { text.contains(" " + normalized($0) + " ") }
    }

    static func normalized(_ text: String) -> String {
        var words: [String] = []
        var word = ""
        for character in text.lowercased() {
            if character.isLetter || character.isNumber {
                word.append(character)
            } else if !word.isEmpty {
                words.append(word)
                word = ""
            }
        }
        if !word.isEmpty { words.append(word) }
        return words.joined(separator: " ")
    }

    /// Asks every question alone (a user message in the model's chat template, greedy) and
    /// returns how many were answered.
    func answeredCount(stage: TransformerStage, tokenizer: Tokenizer) throws -> Int {
        let generator = try LocalGenerator(stage: stage, tokenizer: tokenizer)
        let choice = tokenizer.chatTemplateChoice
        var answered = 0
        for question in questions {
            let text = choice.template.render(
                [ChatMessage(role: "user", content: question.question)], addGenerationPrompt: true,
                defaultSystemPrompt: choice.defaultSystemPrompt)
            let prompt = tokenizer.encode(text, addSpecial: true, parseSpecial: true)
            var reply = ""
            _ = try generator.generate(
                prompt: prompt,
                parameters: SamplingParameters(temperature: 0, maxTokens: maxTokens)
            ) { reply += $0.text }
            if Self.matches(reply: reply, answers: question.answers) { answered += 1 }
        }
        return answered
    }
}
