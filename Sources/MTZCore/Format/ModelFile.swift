/// Reading and writing `.mtz` model files (byte layout in `docs/FORMAT.md`).
///
/// Error policy: reading (`read`, `decode`) throws only `FormatError`; a file that decodes but whose
/// model fails `Model.validate()` is reported as `FormatError` of kind `.invalidModel` carrying the
/// `ModelError`. Writing (`encode`, `write`) throws the `ModelError` from `validate()` unchanged for
/// an invalid model, and `FormatError` (kind `.io`, with the path and `strerror` text) for I/O.
/// Big-endian hosts are refused with `FormatError` of kind `.unsupportedHost`.
public enum ModelFile {
    /// Serialises a validated model. Throws ModelError if invalid.
    ///
    /// - Complexity: O(file size); the result holds every weight once.
    public static func encode(_ model: Model, packedWeights: [PackedWeights] = []) throws -> [UInt8] {
        try checkHost()
        _ = try model.validate()
        guard packedWeights.count <= PackedWeightsSection.maxEntries else {
            throw FormatError(.limit, "\(packedWeights.count) packed weight variants (at most \(PackedWeightsSection.maxEntries))")
        }
        let extra = packedWeights.isEmpty ? [] : [ModelWriter.Section(kind: .packedWeights, flags: 0,
                                                                         bytes: PackedWeightsSection.encode(packedWeights),
                                                                         alignment: ModelFileLayout.tensorAlignment)]
        return ModelWriter.encode(model, extraSections: extra)
    }

    /// Validates, encodes and writes atomically: temp file in the same directory, write, fsync, rename; the temp file is removed on failure.
    ///
    /// - Throws: `ModelError` for an invalid model; `FormatError` (kind `.io`) naming the path and
    ///   the system error when the file cannot be written.
    public static func write(_ model: Model, packedWeights: [PackedWeights] = [], to path: String) throws {
        let bytes = try encode(model, packedWeights: packedWeights)
        try AtomicFile.write(bytes, to: path)
    }

    /// Memory-maps and fully validates the file; weights borrow from the mapping (zero copy).
    ///
    /// The mapping stays alive as long as any returned weight does. Every section's CRC is checked,
    /// so the whole file is read once.
    /// - Throws: `FormatError` (its `path` set) for I/O, layout, checksum or validation problems.
    public static func read(contentsOf path: String) throws -> Model {
        try readWithPackedWeights(contentsOf: path).model
    }

    /// Like `read(contentsOf:)`, and also returns the file's pre-packed convolution weights (its
    /// optional `PACK` section; empty when there is none), mapped like the weights.
    public static func readWithPackedWeights(contentsOf path: String) throws -> (model: Model, packedWeights: [PackedWeights]) {
        do {
            try checkHost()
            let file = try MappedFile(path: path)
            // (An untyped closure: a typed-throws closure returning a tuple crashes Swift 6.3's SILGen.)
            return try file.withUnsafeBytes { bytes in try ModelReader.decodeWithPackedWeights(bytes, owner: file) }
        } catch let error as FormatError {
            throw error.at(path: path)
        }
    }

    /// Decodes from bytes (weights copied into owned storage).
    ///
    /// - Throws: `FormatError` for layout, checksum or validation problems.
    public static func decode(_ bytes: [UInt8]) throws -> Model {
        try decodeWithPackedWeights(bytes).model
    }

    /// Like `decode(_:)`, and also returns the pre-packed convolution weights of the `PACK` section
    /// (copied, like the weights).
    public static func decodeWithPackedWeights(_ bytes: [UInt8]) throws -> (model: Model, packedWeights: [PackedWeights]) {
        try checkHost()
        return try bytes.withUnsafeBytes { raw in try ModelReader.decodeWithPackedWeights(raw, owner: nil) }
    }

    private static func checkHost() throws(FormatError) {
        #if _endian(big)
        throw FormatError(.unsupportedHost, "big-endian hosts are not supported: .mtz files store little-endian float32 weights that are used in place")
        #endif
    }
}
