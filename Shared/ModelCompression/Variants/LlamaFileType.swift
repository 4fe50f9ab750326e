import GGUF

/// `general.file_type` as llama.cpp numbers it (`enum llama_ftype` in llama.h): what a file
/// "mostly" is. A variant records its layer type; the K types map to their `_S` mixes,
/// the closest of llama.cpp's names to "every layer weight in this type".
enum LlamaFileType {
    static func value(for layerType: GGMLType) -> UInt32? {
        switch layerType {
        case .f32: 0
        case .f16: 1
        case .q4_0: 2
        case .q4_1: 3
        case .q8_0: 7
        case .q5_0: 8
        case .q5_1: 9
        case .q2_K: 10
        case .q3_K: 11  // Q3_K_S
        case .q4_K: 14  // Q4_K_S
        case .q5_K: 16  // Q5_K_S
        case .q6_K: 18
        default: nil
        }
    }
}
