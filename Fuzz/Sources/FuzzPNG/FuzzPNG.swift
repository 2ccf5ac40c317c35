import FuzzSupport

/// PNG bytes → `ImageDecoder.decode(bytes:)` → (if it decodes) `Preprocessor` for several specs.
///
/// The decoder recognises the format by its signature, so this target differs from the other image
/// target only in its seed corpus (Fuzz/Corpus/PNG).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNG(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    FuzzSupport.decodeAndPreprocess(FuzzSupport.bytes(data, count))
    return 0
}
