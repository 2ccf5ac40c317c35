import FuzzSupport
import MTZCore

/// `.mtz` bytes → `ModelFile.decode` → (if it decodes) `InferenceModel` and one run on zeros.
///
/// Each input is tried as given (header, table and CRC checks) and with its size field and CRCs
/// repaired (everything behind the checksums: section decoders, validation, loading, running).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModelFile(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let input = FuzzSupport.bytes(data, count)
    if let model = try? ModelFile.decode(input) { FuzzSupport.loadAndRun(model) }
    let repaired = FuzzSupport.repairingChecksums(input)
    if repaired != input, let model = try? ModelFile.decode(repaired) { FuzzSupport.loadAndRun(model) }
    return 0
}
