/// What the gateway does with each top-level field of a chat or text completion request, so
/// that nothing is silently ignored ("never lie"): a field is implemented (read by
/// `OpenAIRequest`), harmless metadata (accepted, has no effect on the output), accepted only
/// with its neutral value, or refused with a 400 naming it. Unknown fields are refused too.
/// The README's OpenAI section lists the same.
enum OpenAIFieldPolicy {
    /// Read by `OpenAIRequest` (including llama.cpp's extensions).
    static let implemented: [OpenAIRequest.Endpoint: Set<String>] = [
        .chat: common.union([
            "messages", "max_completion_tokens", "top_logprobs", "tools",
            "tool_choice", "functions", "function_call", "parallel_tool_calls", "modalities",
        ]),
        .completion: common.union(["prompt", "echo", "suffix", "best_of"]),
    ]

    private static let common: Set<String> = [
        "model", "stream", "stream_options", "temperature", "top_p", "max_tokens", "stop",
        "seed", "n", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs",
        "response_format",  // OpenAIResponseFormat.swift; completions too, as llama.cpp's server
        // llama.cpp's extensions
        "top_k", "min_p", "repeat_penalty", "repeat_last_n", "ignore_eos",
        // Harmless metadata: identifies the caller or labels the request; no effect here.
        "user", "safety_identifier", "metadata", "prompt_cache_key",
        // Accepted only with their neutral value (checked in `refuseNonNeutral`).
        "store", "service_tier",
    ]

    /// Refuses fields not in the table, and OpenAI features the gateway does not have
    /// (tools, echo, suffix, best_of, stored completions, …) unless they
    /// hold their neutral value.
    static func check(_ fields: JSONFields, endpoint: OpenAIRequest.Endpoint) throws {
        let known = implemented[endpoint] ?? []
        if let unknown = fields.fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw GatewayError.invalid(
                "unrecognized request argument supplied: \(unknown) (not supported by this server)",
                parameter: unknown)
        }
        try refuseNonNeutral(fields)
    }

    private static func refuseNonNeutral(_ fields: JSONFields) throws {
        if try fields.bool("store") == true {
            throw GatewayError.invalid(
                "store is not supported: completions are not stored", parameter: "store")
        }
        if let tier = try fields.string("service_tier"), !["auto", "default"].contains(tier) {
            throw GatewayError.invalid(
                "service_tier \"\(tier)\" is not supported (only auto and default)",
                parameter: "service_tier")
        }
        for name in ["tools", "functions"] {
            if case .array(let items)? = fields.value(name), items.isEmpty { continue }
            if fields.value(name) != nil {
                throw GatewayError.invalid(
                    "\(name) is not supported: this server does not do tool calling",
                    parameter: name)
            }
        }
        for name in ["tool_choice", "function_call"] {
            if let value = fields.value(name), value != .string("none") {
                throw GatewayError.invalid(
                    "\(name) is not supported: this server does not do tool calling (only \"none\")",
                    parameter: name)
            }
        }
        if let modalities = fields.value("modalities"), modalities != .array([.string("text")]) {
            throw GatewayError.invalid(
                "modalities: only [\"text\"] is supported", parameter: "modalities")
        }
        if try fields.bool("echo") == true {
            throw GatewayError.invalid("echo is not supported", parameter: "echo")
        }
        if let suffix = try fields.string("suffix"), !suffix.isEmpty {
            throw GatewayError.invalid(
                "suffix is not supported (no fill-in-the-middle)", parameter: "suffix")
        }
        if let bestOf = try fields.integer("best_of", in: 1...Int64.max), bestOf != 1 {
            throw GatewayError.invalid("best_of is not supported (only 1)", parameter: "best_of")
        }
    }
}
