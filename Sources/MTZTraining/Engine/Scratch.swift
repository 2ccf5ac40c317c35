import MTZRuntime

/// A reusable float buffer that grows to the largest size asked of it and never shrinks, so a
/// training step allocates nothing once the first step has run.
final class Scratch {
    private var buffer: AlignedBuffer?

    /// A pointer to at least `count` floats (contents undefined), valid until the next call.
    func pointer(_ count: Int) -> UnsafeMutablePointer<Float> {
        if buffer == nil || buffer!.count < count {
            // Allocation failure here means the machine is out of memory; nothing sensible remains.
            buffer = try! AlignedBuffer(count: max(count, (buffer?.count ?? 0) * 3 / 2))
        }
        return buffer!.pointer
    }
}

/// One batch's worth of a node's values or gradients: `batch` samples of `sampleSize` floats.
final class BatchTensor {
    let batch: Int
    let sampleSize: Int
    private let storage: AlignedBuffer

    init(batch: Int, sampleSize: Int) {
        self.batch = batch
        self.sampleSize = sampleSize
        storage = try! AlignedBuffer(count: batch * sampleSize)
    }

    /// Start of the batch.
    var pointer: UnsafeMutablePointer<Float> { storage.pointer }

    /// Sets the first `samples` samples to zero.
    func zero(samples: Int) { pointer.update(repeating: 0, count: samples * sampleSize) }
}
