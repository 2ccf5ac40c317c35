import FuzzSupport
import MTZCore

/// `.mtz` bytes → `ModelFile.decodeWithPackedWeights` → (if it decodes) `InferenceModel` with the
/// file's pre-packed convolution weights and one run on zeros.
///
/// Each input is tried as given (header, table and CRC checks) and with its size field and CRCs
/// repaired (everything behind the checksums: section decoders, validation, loading, running).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModelFile(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let input = FuzzSupport.bytes(data, count)
    if let (model, packed) = try? ModelFile.decodeWithPackedWeights(input) { FuzzSupport.loadAndRun(model, packedWeights: packed) }
    let repaired = FuzzSupport.repairingChecksums(input)
    if repaired != input, let (model, packed) = try? ModelFile.decodeWithPackedWeights(repaired) {
        FuzzSupport.loadAndRun(model, packedWeights: packed)
    }
    return 0
}
