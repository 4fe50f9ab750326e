import Foundation
import SwiftProtobuf

/// libFuzzer entry for the gRPC surface: the first byte picks one of `WireInputs.all` (every
/// request message the services accept, and the replies a service acts on); its top bit
/// asks for protobuf JSON instead of the binary form. The remaining bytes are decoded as that
/// message the way the servers decode it (SwiftProtobuf, default options), and a message
/// that decodes goes through the domain conversions its receiver runs. Every input must
/// decode or throw, convert or throw a domain error, and encode again — never trap, hang or
/// allocate without bound. Built by scripts/fuzz.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProtobuf(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let selector = data[0]
    let input = WireInputs.all[Int(selector & 0x7F) % WireInputs.all.count]
    let body = [UInt8](UnsafeBufferPointer(start: data + 1, count: size - 1))
    input.run(body, selector & 0x80 != 0)
    return 0
}

/// With TESSERA_FUZZ_SEEDS=DIR, writes one valid example of each message to DIR (binary and
/// JSON, behind its selector byte) before fuzzing starts, so the corpus begins with inputs
/// that reach the conversions.
@_cdecl("LLVMFuzzerInitialize")
public func writeProtobufSeeds(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    guard let directory = ProcessInfo.processInfo.environment["TESSERA_FUZZ_SEEDS"] else {
        return 0
    }
    for (index, input) in WireInputs.all.enumerated() {
        let (binary, json) = input.example()
        let selector = UInt8(index)
        write([selector] + binary, to: "\(directory)/seed-\(input.name)")
        write([selector | 0x80] + json, to: "\(directory)/seed-\(input.name)-json")
    }
    return 0
}

private func write(_ bytes: [UInt8], to path: String) {
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
        fatalError("cannot write the seed \(path)")
    }
}

/// One message type on the wire: how to decode it, what its receiver does with it, and a
/// valid example for the seed corpus.
struct WireInput {
    let name: String
    let run: (_ body: [UInt8], _ json: Bool) -> Void
    let example: () -> (binary: [UInt8], json: [UInt8])

    /// `example` is made only when seeds are written: a message kept in a global would hold
    /// `Data` whose pointers LeakSanitizer cannot see (they share bits with enum tags), and
    /// every run would end in a false leak report.
    init<Message: SwiftProtobuf.Message>(
        _ name: String, _ example: @autoclosure @escaping () -> Message,
        convert: @escaping (Message) throws -> Void = { _ in }
    ) {
        self.name = name
        run = { body, json in
            let message: Message
            do {
                message =
                    json ? try Message(jsonUTF8Bytes: body) : try Message(serializedBytes: body)
            } catch {
                return
            }
            try? convert(message)
            // Replies and relays encode what was decoded.
            _ = try? message.serializedBytes() as [UInt8]
            _ = try? message.jsonUTF8Bytes() as [UInt8]
        }
        // A seed its receiver refuses would start the fuzzer short of the conversions.
        self.example = {
            let message = example()
            do {
                try convert(message)
            } catch {
                fatalError("the example \(name) does not convert: \(error)")
            }
            do {
                return (try message.serializedBytes(), try message.jsonUTF8Bytes())
            } catch {
                fatalError("cannot encode the example \(name): \(error)")
            }
        }
    }
}
