import Foundation
import Inference
import TesseraProto

/// libFuzzer entry for the HTTP API: any bytes as the body of both `POST /v1/chat/completions`
/// and `POST /v1/completions`, read by the gateway's own code (OpenAIRequest and the files it
/// uses, compiled into this target by scripts/fuzz). A body must be accepted or refused with
/// a GatewayError, never trap or hang. An accepted one then goes on as the gateway prepares
/// it: sampling defaults filled and validated (a response format's grammar compiled), token
/// ids checked against a vocabulary, one seed per choice. Seeds: Fuzz/seeds/openai-request.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOpenAIRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body = Data(UnsafeBufferPointer(start: data, count: size))
    for endpoint in [OpenAIRequest.Endpoint.chat, .completion] {
        let request: OpenAIRequest
        do {
            request = try OpenAIRequest(body: body, endpoint: endpoint)
        } catch is GatewayError {
            continue
        } catch {
            fatalError("the body was refused with \(type(of: error)), not a GatewayError: \(error)")
        }
        prepare(request)
    }
    return 0
}

/// What the gateway does next with an accepted request (GenerationOptions, prepareChoices).
private func prepare(_ request: OpenAIRequest) {
    for index in 0..<request.choices {
        var sampling = request.sampling
        if sampling.hasSeed { sampling.seed &+= UInt64(index) }
        guard let parameters = try? sampling.parameters(defaultMaxTokens: 256) else { return }
        _ = try? parameters.validate(vocabularySize: 49_152)
    }
}
