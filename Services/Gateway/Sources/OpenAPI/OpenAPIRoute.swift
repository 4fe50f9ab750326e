import Hummingbird
import NIOCore
import ServiceKit

/// `GET /openapi.json`: the OpenAPI 3.1 document of the gateway's HTTP API
/// (docs/openapi.json). It is compiled into the binary (Generated/OpenAPIDocument.swift,
/// written by scripts/generate-openapi) so that a gateway needs no file beside it at run time.
enum OpenAPIRoute {
    static func register(on router: Router<HTTPEndpoint.Context>) {
        // One buffer for every request: the document never changes while the gateway runs.
        let body = ByteBuffer(string: OpenAPIDocument.json)
        router.get("/openapi.json") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
        }
    }
}
