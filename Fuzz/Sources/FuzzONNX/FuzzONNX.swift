import Foundation
import FuzzSupport
import MTZONNX

/// ONNX protobuf bytes → `ONNXImporter.importModel` → (if it imports) `InferenceModel` and one run.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    if let model = try? ONNXImporter.importModel(Data(bytes: data, count: count)) {
        FuzzSupport.loadAndRun(model)
    }
    return 0
}
