/// The datasets the trainer can load: 28 × 28 grey images in 10 classes, stored as IDX files.
public enum DatasetName: String, CaseIterable, Sendable {
    /// MNIST handwritten digits (Yann LeCun & Corinna Cortes, CC BY-SA 3.0).
    case mnist
    /// Fashion-MNIST clothing images (Zalando Research, MIT).
    case fashion

    /// The dataset's usual name, for messages.
    public var displayName: String {
        switch self {
        case .mnist: "MNIST"
        case .fashion: "Fashion-MNIST"
        }
    }

    /// The directory under the data root that holds the dataset's IDX files.
    public var directoryName: String {
        switch self {
        case .mnist: "mnist"
        case .fashion: "fashion-mnist"
        }
    }

    /// Human-readable name of each class, indexed by label.
    public var classNames: [String] {
        switch self {
        case .mnist: (0..<10).map(String.init)
        case .fashion:
            ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
        }
    }

    /// Number of classes (labels are `0..<classCount`).
    public var classCount: Int { 10 }

    /// Mean of the training pixels scaled to [0, 1] (pixel / 255), for normalisation.
    public var mean: Float {
        switch self {
        case .mnist: 0.1307
        case .fashion: 0.2860
        }
    }

    /// Standard deviation of the training pixels scaled to [0, 1], for normalisation.
    public var std: Float {
        switch self {
        case .mnist: 0.3081
        case .fashion: 0.3530
        }
    }
}

/// Which part of a dataset: the training images or the held-out test images.
public enum DatasetSplit: String, CaseIterable, Sendable {
    /// The training split (60 000 images for MNIST and Fashion-MNIST).
    case train
    /// The test split (10 000 images for MNIST and Fashion-MNIST).
    case test

    /// File name of the split's IDX image file.
    public var imageFileName: String { "\(filePrefix)-images-idx3-ubyte" }
    /// File name of the split's IDX label file.
    public var labelFileName: String { "\(filePrefix)-labels-idx1-ubyte" }

    private var filePrefix: String {
        switch self {
        case .train: "train"
        case .test: "t10k"
        }
    }
}

/// Loads datasets from their IDX files.
public enum Dataset {
    /// Loads one split of a dataset, found by `DatasetLocator` (`root`, `$MTZ_DATA_DIR`, `./data`, the package's `data/`).
    /// - Parameter root: a directory holding the dataset's directory (e.g. `root/mnist/`); when
    ///   given, it is the only place looked in.
    /// - Throws: `DatasetError`: `.missing` with the paths tried, any IDX reading error,
    ///   `.countMismatch` when images and labels differ in number, `.badLabel` for a label ≥ 10.
    /// - Complexity: reads the two files once; memory is one byte per pixel and per label.
    public static func load(_ name: DatasetName, split: DatasetSplit, root: String? = nil) throws(DatasetError) -> LabeledImages {
        let directory = try DatasetLocator(root: root).locate(name)
        return try load(name, split: split, directory: directory)
    }

    /// Loads one split of a dataset from `directory`, which holds its IDX files directly.
    /// - Throws: as `load(_:split:root:)`; a missing file is `.missing` naming it (or `.gzipped`
    ///   if only its `.gz` is there).
    public static func load(_ name: DatasetName, split: DatasetSplit, directory: String) throws(DatasetError) -> LabeledImages {
        let imagePath = try existingFile(directory + "/" + split.imageFileName, dataset: name)
        let labelPath = try existingFile(directory + "/" + split.labelFileName, dataset: name)
        let images = try IDXReader.images(atPath: imagePath)
        let labels = try IDXReader.labels(atPath: labelPath)
        guard images.count == labels.count else {
            throw .countMismatch(images: images.count, labels: labels.count, source: directory)
        }
        try checkLabels(labels, classCount: name.classCount, source: labelPath)
        return LabeledImages(rows: images.rows, cols: images.cols, pixels: images.pixels, labels: labels)
    }

    /// Throws `.badLabel` for the first label that is not in `0..<classCount`.
    public static func checkLabels(_ labels: [UInt8], classCount: Int, source: String) throws(DatasetError) {
        if let index = labels.firstIndex(where: { Int($0) >= classCount }) {
            throw .badLabel(source: source, index: index, value: labels[index], classCount: classCount)
        }
    }

    private static func existingFile(_ path: String, dataset: DatasetName) throws(DatasetError) -> String {
        if DataFile.exists(path) { return path }
        if DataFile.exists(path + ".gz") { throw .gzipped(source: path + ".gz") }
        throw .missing(dataset: dataset, tried: [path])
    }
}
