/// The source samples (and their weights) that make up one output coordinate along one axis.
///
/// Weights of the taps `start ..< start + count` are `firstWeight` for the first, `lastWeight`
/// for the last and `middleWeight` for the others; they sum to 1.
struct ResampleTaps {
    var start: Int
    var count: Int
    var firstWeight: Float
    var middleWeight: Float
    var lastWeight: Float

    /// The weight of tap `index` (0-based within the taps).
    @inline(__always)
    func weight(_ index: Int) -> Float {
        index == 0 ? firstWeight : (index == count - 1 ? lastWeight : middleWeight)
    }
}

/// Maps output coordinates of one axis to source taps: bilinear interpolation with half-pixel
/// centres when the output is at least as dense as the source, area averaging otherwise.
///
/// Output pixel `o` covers the source interval `[offset + o * scale, offset + (o + 1) * scale)`
/// in pixel-edge coordinates.
struct ResampleAxis {
    /// Number of source pixels along this axis.
    let sourceSize: Int
    /// Source pixels per output pixel (> 1 means downscaling).
    let scale: Double
    /// Source coordinate (pixel edges) where output pixel 0 begins.
    let offset: Double

    /// Whether this axis averages areas (downscaling) rather than interpolating.
    var averagesArea: Bool { scale > 1 }

    /// The taps of output coordinate `index`.
    @inline(__always)
    func taps(_ index: Int) -> ResampleTaps {
        averagesArea ? areaTaps(index) : bilinearTaps(index)
    }

    private func bilinearTaps(_ index: Int) -> ResampleTaps {
        let centre = offset + (Double(index) + 0.5) * scale - 0.5
        let clamped = Swift.min(Swift.max(centre, 0), Double(sourceSize - 1))
        let start = Int(clamped.rounded(.down))
        let fraction = Float(clamped - Double(start))
        if start >= sourceSize - 1 || fraction == 0 {
            return ResampleTaps(start: start, count: 1, firstWeight: 1, middleWeight: 0, lastWeight: 1)
        }
        return ResampleTaps(start: start, count: 2, firstWeight: 1 - fraction, middleWeight: 0, lastWeight: fraction)
    }

    private func areaTaps(_ index: Int) -> ResampleTaps {
        let size = Double(sourceSize)
        let low = Swift.min(Swift.max(offset + Double(index) * scale, 0), size)
        let high = Swift.min(Swift.max(offset + Double(index + 1) * scale, low), size)
        let width = high - low
        guard width > 0 else {
            let start = Swift.min(Int(low), sourceSize - 1)
            return ResampleTaps(start: start, count: 1, firstWeight: 1, middleWeight: 0, lastWeight: 1)
        }
        let start = Swift.min(Int(low.rounded(.down)), sourceSize - 1)
        let end = Swift.max(Swift.min(Int(high.rounded(.up)), sourceSize), start + 1)
        let count = end - start
        if count == 1 {
            return ResampleTaps(start: start, count: 1, firstWeight: 1, middleWeight: 0, lastWeight: 1)
        }
        let first = (Double(start + 1) - low) / width
        let last = (high - Double(end - 1)) / width
        return ResampleTaps(start: start, count: count, firstWeight: Float(first),
                            middleWeight: Float(1 / width), lastWeight: Float(last))
    }
}
