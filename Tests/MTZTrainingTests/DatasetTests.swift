import Foundation
import Testing
@testable import MTZTraining

/// Hand-made IDX files.
private enum CraftedIDX {
    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    /// An image file whose header says `count × rows × cols`, followed by `pixels`.
    static func images(count: UInt32, rows: UInt32, cols: UInt32, pixels: [UInt8]) -> [UInt8] {
        bigEndian(0x0000_0803) + bigEndian(count) + bigEndian(rows) + bigEndian(cols) + pixels
    }

    /// A label file whose header says `labels.count` (or `count`), followed by `labels`.
    static func labels(_ labels: [UInt8], count: UInt32? = nil) -> [UInt8] {
        bigEndian(0x0000_0801) + bigEndian(count ?? UInt32(labels.count)) + labels
    }

    /// Two 3 × 2 images with pixel values 0…11.
    static let tinyImages = images(count: 2, rows: 3, cols: 2, pixels: Array(0..<12))
    static let tinyLabels = labels([7, 3])
}

/// A fresh directory under the system's temporary directory, removed by `remove()`.
private struct TemporaryDirectory {
    let path: String

    init() throws {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("mtz-dataset-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }

    func write(_ bytes: [UInt8], to name: String) throws {
        let url = URL(fileURLWithPath: path + "/" + name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }

    func makeDirectory(_ name: String) throws {
        try FileManager.default.createDirectory(atPath: path + "/" + name, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// The `DatasetError` that `body` throws, or nil (any other error is recorded as an issue).
private func caught<T>(_ body: () throws -> T) -> DatasetError? {
    do {
        _ = try body()
        return nil
    } catch let error as DatasetError {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

@Suite("IDX reader")
struct IDXReaderTests {
    @Test("a tiny valid image file and label file parse")
    func tinyValid() throws {
        let images = try IDXReader.images(from: CraftedIDX.tinyImages)
        #expect(images == IDXReader.Images(count: 2, rows: 3, cols: 2, pixels: Array(0..<12)))
        #expect(try IDXReader.labels(from: CraftedIDX.tinyLabels) == [7, 3])
        #expect(try IDXReader.images(from: CraftedIDX.images(count: 0, rows: 28, cols: 28, pixels: [])).count == 0)
    }

    @Test("a wrong magic number is badMagic, naming the kind it looks like")
    func wrongMagic() {
        #expect(caught { try IDXReader.images(from: CraftedIDX.tinyLabels, source: "x") }
            == .badMagic(source: "x", found: 0x801, expected: 0x803))
        let error = caught { try IDXReader.labels(from: CraftedIDX.tinyImages, source: "y") }
        #expect(error == .badMagic(source: "y", found: 0x803, expected: 0x801))
        #expect(error?.description.contains("looks like an IDX image file") == true)
        let junk: [UInt8] = [0xDE, 0xAD, 0xBE, 0xEF] + [UInt8](repeating: 0, count: 12)
        #expect(caught { try IDXReader.images(from: junk, source: "z") }
            == .badMagic(source: "z", found: 0xDEAD_BEEF, expected: 0x803))
        // Signed-byte or float IDX files are not read either.
        let floats = CraftedIDX.bigEndian(0x0000_0D03) + Array(CraftedIDX.tinyImages[4...])
        #expect(caught { try IDXReader.images(from: floats, source: "f") }
            == .badMagic(source: "f", found: 0xD03, expected: 0x803))
    }

    @Test("every truncation of a tiny image file is .truncated with the right sizes")
    func truncatedImages() {
        let full = CraftedIDX.tinyImages
        for length in 0..<full.count {
            let expected = length < 16 ? 16 : full.count
            let error = caught { try IDXReader.images(from: Array(full[..<length]), source: "t") }
            #expect(error == .truncated(source: "t", expectedBytes: expected, actualBytes: length),
                    "prefix of \(length) bytes")
        }
    }

    @Test("every truncation of a tiny label file is .truncated with the right sizes")
    func truncatedLabels() {
        let full = CraftedIDX.tinyLabels
        for length in 0..<full.count {
            let expected = length < 8 ? 8 : full.count
            let error = caught { try IDXReader.labels(from: Array(full[..<length]), source: "t") }
            #expect(error == .truncated(source: "t", expectedBytes: expected, actualBytes: length),
                    "prefix of \(length) bytes")
        }
    }

    @Test("every truncation of a tiny file on disk is .truncated, read through the path")
    func truncatedFiles() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let full = CraftedIDX.tinyImages
        for length in 0..<full.count {
            let name = "images-\(length)"
            try directory.write(Array(full[..<length]), to: name)
            let path = directory.path + "/" + name
            let error = caught { try IDXReader.images(atPath: path) }
            #expect(error == .truncated(source: path, expectedBytes: length < 16 ? 16 : full.count, actualBytes: length))
        }
        try directory.write(CraftedIDX.tinyLabels, to: "labels")
        #expect(try IDXReader.labels(atPath: directory.path + "/labels") == [7, 3])
    }

    @Test("bytes after the announced payload are refused")
    func trailingBytes() {
        let long = CraftedIDX.tinyImages + [0]
        #expect(caught { try IDXReader.images(from: long, source: "l") }
            == .trailingBytes(source: "l", expectedBytes: 28, actualBytes: 29))
        #expect(caught { try IDXReader.labels(from: CraftedIDX.tinyLabels + [1, 2], source: "l") }
            == .trailingBytes(source: "l", expectedBytes: 10, actualBytes: 12))
    }

    @Test("absurd dimensions are refused from the header alone",
          arguments: [(10_000_001, 28, 28), (1, 1025, 1), (1, 1, 1025), (0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF)])
    func absurdDimensions(count: Int, rows: Int, cols: Int) throws {
        let header = CraftedIDX.images(count: UInt32(count), rows: UInt32(rows), cols: UInt32(cols), pixels: [])
        #expect(caught { try IDXReader.images(from: header, source: "a") }
            == .tooLarge(source: "a", dimensions: [count, rows, cols]))
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write(header, to: "huge")
        let path = directory.path + "/huge"
        #expect(caught { try IDXReader.images(atPath: path) }
            == .tooLarge(source: path, dimensions: [count, rows, cols]))
    }

    @Test("the largest accepted header with no payload is truncated, without reading a payload")
    func limitHeaderTruncated() throws {
        let header = CraftedIDX.images(count: 10_000_000, rows: 1024, cols: 1024, pixels: [])
        #expect(caught { try IDXReader.images(from: header, source: "m") }
            == .truncated(source: "m", expectedBytes: 16 + 10_000_000 * 1024 * 1024, actualBytes: 16))
        #expect(caught { try IDXReader.labels(from: CraftedIDX.labels([], count: 10_000_001), source: "m") }
            == .tooLarge(source: "m", dimensions: [10_000_001]))
    }

    @Test("a gzipped file is .gzipped, and the message says how to fix it")
    func gzipped() throws {
        let gzipHeader: [UInt8] = [0x1F, 0x8B, 0x08, 0x08, 0, 0, 0, 0, 0, 3]
        let error = caught { try IDXReader.images(from: gzipHeader, source: "g") }
        #expect(error == .gzipped(source: "g"))
        #expect(error?.description.contains("scripts/fetch-datasets.sh") == true)
        #expect(caught { try IDXReader.labels(from: [0x1F, 0x8B], source: "g") } == .gzipped(source: "g"))

        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write(gzipHeader, to: "train-labels-idx1-ubyte")
        let path = directory.path + "/train-labels-idx1-ubyte"
        #expect(caught { try IDXReader.labels(atPath: path) } == .gzipped(source: path))
    }

    @Test("unreadable paths are .io with the system's reason")
    func unreadable() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let missing = directory.path + "/nothing"
        #expect(caught { try IDXReader.images(atPath: missing) } == .io(path: missing, reason: "No such file or directory"))
        #expect(caught { try IDXReader.labels(atPath: directory.path) } == .io(path: directory.path, reason: "Is a directory"))
    }
}

@Suite("Dataset loading and location")
struct DatasetLoadingTests {
    /// Writes a test split of MNIST under `<dir>/mnist/`.
    private func writeSplit(_ directory: TemporaryDirectory, images: [UInt8], labels: [UInt8]) throws {
        try directory.write(images, to: "mnist/t10k-images-idx3-ubyte")
        try directory.write(labels, to: "mnist/t10k-labels-idx1-ubyte")
    }

    @Test("a tiny valid dataset loads through an explicit root")
    func tinyDataset() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try writeSplit(directory, images: CraftedIDX.tinyImages, labels: CraftedIDX.tinyLabels)
        let data = try Dataset.load(.mnist, split: .test, root: directory.path)
        #expect(data == LabeledImages(rows: 3, cols: 2, pixels: Array(0..<12), labels: [7, 3]))
        #expect(data.image(at: 1) == [6, 7, 8, 9, 10, 11])
        #expect(data.subset(1..<2) == LabeledImages(rows: 3, cols: 2, pixels: Array(6..<12), labels: [3]))
        #expect(data.subset([1, 0, 1]).labels == [3, 7, 3])
        #expect(data.subset(0..<0).count == 0)
        #expect(data.labelHistogram() == [0, 0, 0, 1, 0, 0, 0, 1, 0, 0])
    }

    @Test("images and labels that differ in number are .countMismatch")
    func countMismatch() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try writeSplit(directory, images: CraftedIDX.tinyImages, labels: CraftedIDX.labels([1, 2, 3]))
        #expect(caught { try Dataset.load(.mnist, split: .test, root: directory.path) }
            == .countMismatch(images: 2, labels: 3, source: directory.path + "/mnist"))
    }

    @Test("a label of 10 or more is .badLabel at its index")
    func badLabel() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try writeSplit(directory, images: CraftedIDX.tinyImages, labels: CraftedIDX.labels([9, 10]))
        let path = directory.path + "/mnist/t10k-labels-idx1-ubyte"
        #expect(caught { try Dataset.load(.mnist, split: .test, root: directory.path) }
            == .badLabel(source: path, index: 1, value: 10, classCount: 10))
    }

    @Test("a split whose files are still .gz is .gzipped; a missing file is .missing naming it")
    func gzippedOrMissingFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write([0x1F, 0x8B, 8, 0], to: "mnist/t10k-images-idx3-ubyte.gz")
        let base = directory.path + "/mnist/"
        #expect(caught { try Dataset.load(.mnist, split: .test, root: directory.path) }
            == .gzipped(source: base + "t10k-images-idx3-ubyte.gz"))
        let error = caught { try Dataset.load(.mnist, split: .train, root: directory.path) }
        #expect(error == .missing(dataset: .mnist, tried: [base + "train-images-idx3-ubyte"]))
        #expect(error?.description.contains("run scripts/fetch-datasets.sh") == true)
    }

    @Test("a missing dataset names every path tried and the fetch script")
    func missingDataset() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let error = caught { try Dataset.load(.fashion, split: .train, root: directory.path + "/nowhere") }
        #expect(error == .missing(dataset: .fashion, tried: [directory.path + "/nowhere/fashion-mnist"]))
        let text = error?.description ?? ""
        #expect(text.contains(directory.path + "/nowhere/fashion-mnist"))
        #expect(text.contains("run scripts/fetch-datasets.sh"))
        #expect(text.contains("Fashion-MNIST"))

        let locator = DatasetLocator(root: nil, environmentRoot: nil, currentDirectory: directory.path)
        #expect(caught { try locator.locate(.mnist) }
            == .missing(dataset: .mnist, tried: [directory.path + "/data/mnist"]))
    }

    @Test("the locator: explicit root, then $MTZ_DATA_DIR, then ./data, then data/ beside Package.swift above")
    func searchOrder() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write(Array("// swift-tools-version: 6.1\n".utf8), to: "repo/Package.swift")
        try directory.makeDirectory("repo/data/mnist")
        try directory.makeDirectory("repo/Sources/Deep/Er")
        try directory.makeDirectory("elsewhere/fashion-mnist")
        let repo = directory.path + "/repo"
        let nested = repo + "/Sources/Deep/Er"

        let walkingUp = DatasetLocator(root: nil, environmentRoot: nil, currentDirectory: nested)
        #expect(try walkingUp.locate(.mnist) == repo + "/data/mnist")
        #expect(walkingUp.candidates(for: .fashion).prefix(2)
            == [nested + "/data/fashion-mnist", repo + "/data/fashion-mnist"])

        let fromRoot = DatasetLocator(root: nil, environmentRoot: nil, currentDirectory: repo)
        #expect(try fromRoot.locate(.mnist) == repo + "/data/mnist")
        #expect(fromRoot.candidates(for: .mnist).filter { $0 == repo + "/data/mnist" }.count == 1)

        let environment = DatasetLocator(root: nil, environmentRoot: directory.path + "/elsewhere", currentDirectory: nested)
        #expect(try environment.locate(.fashion) == directory.path + "/elsewhere/fashion-mnist")
        #expect(caught { try environment.locate(.mnist) }
            == .missing(dataset: .mnist, tried: [directory.path + "/elsewhere/mnist"]))

        let relativeRoot = DatasetLocator(root: "data", environmentRoot: directory.path + "/elsewhere", currentDirectory: repo)
        #expect(try relativeRoot.locate(.mnist) == repo + "/data/mnist")

        #expect(DatasetLocator(root: nil, environmentRoot: "", currentDirectory: repo).candidates(for: .mnist).first
            == repo + "/data/mnist")
    }

    @Test("dataset names, class names and normalisation constants")
    func names() {
        #expect(DatasetName(rawValue: "mnist") == .mnist)
        #expect(DatasetName(rawValue: "fashion") == .fashion)
        #expect(DatasetName.mnist.classNames == ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"])
        #expect(DatasetName.fashion.classNames.count == 10)
        #expect(DatasetName.fashion.classNames[9] == "Ankle boot")
        #expect(DatasetName.fashion.directoryName == "fashion-mnist")
        #expect(DatasetSplit.test.imageFileName == "t10k-images-idx3-ubyte")
        #expect(DatasetSplit.train.labelFileName == "train-labels-idx1-ubyte")
        #expect(DatasetName.mnist.mean == 0.1307 && DatasetName.fashion.std == 0.3530)
    }
}

@Suite("Real datasets (fetched by scripts/fetch-datasets.sh)")
struct RealDatasetTests {
    @Test("MNIST and Fashion-MNIST load with 60000/10000 images of 28 x 28 and balanced labels",
          arguments: DatasetName.allCases)
    func realData(name: DatasetName) throws {
        for split in DatasetSplit.allCases {
            let data = try Dataset.load(name, split: split)
            let expected = split == .train ? 60_000 : 10_000
            #expect(data.count == expected)
            #expect(data.rows == 28 && data.cols == 28)
            #expect(data.pixels.count == expected * 784)
            let histogram = data.labelHistogram()
            #expect(histogram.reduce(0, +) == expected)
            // MNIST's classes hold 8.9 %–11.3 % of each split; Fashion-MNIST's exactly 10 %.
            for (label, count) in histogram.enumerated() {
                #expect(Double(count) / Double(expected) > 0.085 && Double(count) / Double(expected) < 0.115,
                        "\(name) \(split) label \(label): \(count)")
            }
            if name == .fashion { #expect(histogram.allSatisfy { $0 == expected / 10 }) }
            // Images are mostly dark background with some bright strokes.
            let mean = Double(data.pixels.reduce(0) { $0 + Int($1) }) / Double(data.pixels.count) / 255
            #expect(abs(mean - Double(name.mean)) < 0.01, "\(name) \(split) mean \(mean)")
        }
        // Known first items: MNIST train starts with a 5 and test with a 7; Fashion-MNIST test with an ankle boot.
        let test = try Dataset.load(name, split: .test)
        #expect(test.labels.prefix(4) == (name == .mnist ? [7, 2, 1, 0] : [9, 2, 1, 1]))
    }
}
