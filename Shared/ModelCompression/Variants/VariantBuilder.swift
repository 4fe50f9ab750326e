import Foundation
import GGUF
import Kernels
import ModelArchitecture

/// Reports progress while a variant is made: a fraction in 0...1 and what is being done.
public typealias VariantProgressHandler = @Sendable (_ fraction: Double, _ message: String) -> Void

/// What a finished variant is.
public struct VariantReport: Sendable, Equatable {
    public var path: String
    public var method: VariantMethod
    public var sizeBytes: Int
    /// Tensors stored in another type than the method asked for (see `BlockTypeFallback`).
    public var fallbacks: [VariantFallback]
    /// Tensors dequantized and quantized again (the rest were copied as they are).
    public var convertedTensors: Int
    public var seconds: Double
}

/// Makes a compact variant of a GGUF model: every layer weight (a 2-D matrix inside a block)
/// is dequantized to floats, pruned when the method says so, and quantized to the method's
/// type; norms, biases and other vectors are copied; the embedding/output matrix keeps its
/// type unless the method names one. Metadata is the parent's plus `general.file_type` and
/// `tessera.variant.*`. The file appears under `output` only once complete (`PartialFile`).
public enum VariantBuilder {
    public static let methodKey = "tessera.variant.method"
    public static let parentSHA256Key = "tessera.variant.parent_sha256"
    public static let fallbacksKey = "tessera.variant.fallbacks"
    /// The suffix of a file being written; a store removes leftovers at start-up.
    public static let partialSuffix = PartialFile.suffix

    public static func build(
        source: String, method: VariantMethod, output: String, calibrationText: String? = nil,
        parentSHA256: String? = nil, progress: @escaping VariantProgressHandler = { _, _ in }
    ) throws(VariantBuildError) -> VariantReport {
        let started = ContinuousClock.now
        let model = try open(source)
        let layout: TensorLayout
        do {
            let architecture = try ModelArchitecture(gguf: model)
            layout = TensorLayout(architecture)
            try layout.validate(model, layers: 0..<architecture.layerCount)
        } catch {
            throw .unsupportedSource(path: source, reason: error.description)
        }
        let plan = try VariantPlan(model: model, layout: layout, method: method)
        let transform = try pruning(
            method: method, source: source, calibrationText: calibrationText, progress: progress)
        let convertStart = transform == nil ? 0.0 : 0.5

        var writer = GGUFWriter(alignment: model.alignment)
        for key in model.metadataKeys {
            if let value = model.metadata[key] { writer.set(key, value) }
        }
        if let fileType = LlamaFileType.value(for: method.layerType) {
            writer.set("general.file_type", .uint32(fileType))
        }
        writer.set(methodKey, .string(method.description))
        if let parentSHA256 { writer.set(parentSHA256Key, .string(parentSHA256)) }
        if !plan.fallbacks.isEmpty {
            writer.set(
                fallbacksKey,
                .array(plan.fallbacks.map { .string("\($0.tensor):\($0.wanted)->\($0.used)") }))
        }

        let totalElements = max(1, plan.steps.reduce(0) { $0 + $1.tensor.elementCount })
        var doneElements = 0
        var converted = 0
        for step in plan.steps {
            let bytes = try tensorBytes(step, model: model, transform: transform, source: source)
            do {
                try writer.addTensor(
                    name: step.tensor.name, dimensions: step.tensor.dimensions,
                    type: step.storedType, bytes: bytes)
            } catch {
                throw .writeFailed(path: output, reason: "\(error)")
            }
            if case .convert = step.action { converted += 1 }
            doneElements += step.tensor.elementCount
            let fraction =
                convertStart + (1 - convertStart) * Double(doneElements)
                / Double(totalElements)
            progress(0.99 * fraction, "\(step.tensor.name) \(step.storedType.name)")
        }

        let image: [UInt8]
        do {
            image = try writer.encoded()
        } catch {
            throw .writeFailed(path: output, reason: "\(error)")
        }
        let expectedTensors = plan.steps.count
        try PartialFile.publish(image, as: output) { partial in
            // A file that does not parse back must never be published.
            let written = try GGUFFile(path: partial)
            guard written.tensors.count == expectedTensors else {
                throw VariantBuildError.writeFailed(
                    path: output,
                    reason: "wrote \(written.tensors.count) tensors, expected \(expectedTensors)")
            }
        }
        progress(1, "written \(output)")
        let elapsed = started.duration(to: .now)
        return VariantReport(
            path: output, method: method, sizeBytes: image.count, fallbacks: plan.fallbacks,
            convertedTensors: converted,
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds)
                * 1e-18)
    }

    private static func open(_ source: String) throws(VariantBuildError) -> GGUFFile {
        do {
            return try GGUFFile(path: source)
        } catch GGUFError.badMagic {
            // Not the reader's words: they quote the file's first bytes.
            throw .unreadableSource(path: source, reason: "not a GGUF file")
        } catch {
            throw .unreadableSource(path: source, reason: "\(error)")
        }
    }

    /// Wanda's transform for a pruning method (gathering activation norms is the first half
    /// of the progress), nil otherwise.
    private static func pruning(
        method: VariantMethod, source: String, calibrationText: String?,
        progress: @escaping VariantProgressHandler
    ) throws(VariantBuildError) -> TensorTransform? {
        guard let pruning = method.pruning else { return nil }
        guard let calibrationText, !calibrationText.isEmpty else {
            throw .calibrationTextMissing(method: method.description)
        }
        do {
            return try Wanda.transform(
                modelPath: source, calibrationText: calibrationText, pattern: pruning.pattern,
                progress: { progress(0.5 * $0, "calibrating (Wanda)") })
        } catch {
            throw .pruningFailed(method: method.description, reason: "\(error)")
        }
    }

    /// The bytes a tensor is stored as: its own, or decoded, pruned and encoded again.
    private static func tensorBytes(
        _ step: VariantPlan.Step, model: GGUFFile, transform: TensorTransform?, source: String
    ) throws(VariantBuildError) -> [UInt8] {
        let tensor = step.tensor
        let stored = model.bytes(of: tensor)
        guard stored.count == tensor.byteCount, let base = stored.baseAddress else {
            throw .unreadableSource(
                path: source, reason: "tensor \(tensor.name) lies outside the file")
        }
        guard case .convert(let type, let prune) = step.action else { return Array(stored) }
        let count = tensor.elementCount
        var values = [Float](repeating: 0, count: count)
        do {
            try values.withUnsafeMutableBufferPointer { out in
                try TensorRows.dequantize(tensor.type, base, count: count, into: out.baseAddress!)
            }
        } catch {
            throw .undecodableTensor(tensor: tensor.name, type: tensor.type.name)
        }
        if prune, let transform {
            let columns = tensor.dimensions[0]
            do {
                try transform(tensor.name, &values, count / columns, columns)
            } catch {
                throw .pruningFailed(method: "wanda", reason: "\(tensor.name): \(error)")
            }
        }
        do {
            return try TensorRows.quantize(values, as: type)
        } catch {
            throw .noTypeFits(
                tensor: tensor.name, wanted: type.name, rowLength: tensor.dimensions[0])
        }
    }
}
