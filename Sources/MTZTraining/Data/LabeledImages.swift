/// Grey images of one size with one class label each, held as bytes.
public struct LabeledImages: Sendable, Equatable {
    /// Number of images (and labels).
    public let count: Int
    /// Pixel rows per image.
    public let rows: Int
    /// Pixel columns per image.
    public let cols: Int
    /// `count · rows · cols` grey levels (0…255), image after image, each row-major.
    public let pixels: [UInt8]
    /// One class label per image.
    public let labels: [UInt8]

    /// Wraps images and their labels; `pixels` must hold `labels.count · rows · cols` bytes.
    public init(rows: Int, cols: Int, pixels: [UInt8], labels: [UInt8]) {
        precondition(rows >= 0 && cols >= 0, "negative image size")
        precondition(pixels.count == labels.count * rows * cols,
                     "\(pixels.count) pixels for \(labels.count) images of \(rows) x \(cols)")
        self.count = labels.count
        self.rows = rows
        self.cols = cols
        self.pixels = pixels
        self.labels = labels
    }

    /// Bytes per image (`rows · cols`).
    public var pixelsPerImage: Int { rows * cols }

    /// The pixels of image `index`, row-major.
    public func image(at index: Int) -> ArraySlice<UInt8> {
        precondition(index >= 0 && index < count, "image index \(index) outside 0..<\(count)")
        return pixels[index * pixelsPerImage ..< (index + 1) * pixelsPerImage]
    }

    /// The first `limit` images (all of them when `limit` is nil or at least `count`).
    public func prefix(_ limit: Int?) -> LabeledImages {
        guard let limit, limit < count else { return self }
        return subset(0..<max(limit, 0))
    }

    /// The images (and labels) in `range`, copied; the range must lie within `0..<count`.
    public func subset(_ range: Range<Int>) -> LabeledImages {
        precondition(range.lowerBound >= 0 && range.upperBound <= count,
                     "range \(range) outside 0..<\(count)")
        return LabeledImages(
            rows: rows, cols: cols,
            pixels: Array(pixels[range.lowerBound * pixelsPerImage ..< range.upperBound * pixelsPerImage]),
            labels: Array(labels[range]))
    }

    /// The images (and labels) at `indices`, in that order (repeats allowed), copied.
    public func subset(_ indices: some Sequence<Int>) -> LabeledImages {
        var chosenPixels: [UInt8] = []
        var chosenLabels: [UInt8] = []
        chosenPixels.reserveCapacity(indices.underestimatedCount * pixelsPerImage)
        chosenLabels.reserveCapacity(indices.underestimatedCount)
        for index in indices {
            chosenPixels.append(contentsOf: image(at: index))
            chosenLabels.append(labels[index])
        }
        return LabeledImages(rows: rows, cols: cols, pixels: chosenPixels, labels: chosenLabels)
    }

    /// How many images carry each label `0..<classCount` (labels beyond it are not counted).
    public func labelHistogram(classCount: Int = 10) -> [Int] {
        var histogram = [Int](repeating: 0, count: classCount)
        for label in labels where Int(label) < classCount { histogram[Int(label)] += 1 }
        return histogram
    }
}
