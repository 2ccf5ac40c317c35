import CMTZKernels
import MTZCore
import MTZImage
import MTZRuntime
import MTZTraining

/// Runs a (lowered) model on a task's images and hands out the values one node produces — the
/// inputs of a layer being zipped, from which its Hessian is estimated.
enum LayerInputs {
    /// For each of the first `count` images, calls `body` with the value `ref` reads: `pixels`
    /// rows of `channels` values, row stride `stride` (a channel slice of the node's value).
    static func forEach(
        in model: Model, ref: ValueRef, images: LabeledImages, count: Int,
        _ body: (_ rows: UnsafePointer<Float>, _ shape: ValueShape, _ stride: Int) -> Void
    ) throws {
        var probe = model
        probe.tasks = [TaskHead(name: "__layer_input", output: ref.node, labels: [])]
        let loaded = try InferenceModel(probe)
        let session = try loaded.makeSession()
        let shapes = try model.validate()
        let source = shapes[ref.node]
        let channels = ref.channelCount ?? (source.channels - ref.channelOffset)
        let shape = ValueShape(height: source.height, width: source.width, channels: channels)
        let preprocessor = Preprocessor(spec: model.input)
        var input = [Float](repeating: 0, count: loaded.inputCount)
        for i in 0..<min(count, images.count) {
            input.withUnsafeMutableBufferPointer { preprocessor.run(images.grayImage(at: i), into: $0) }
            try input.withUnsafeBufferPointer { try session.run(input: $0) }
            try session.withOutput(of: "__layer_input") { out in
                body(out.baseAddress! + ref.channelOffset, shape, source.channels)
            }
        }
    }
}
