import Foundation
import MTZImage

/// One entry of Fixtures/manifest.json (written by scripts/make-image-fixtures.py).
struct FixtureEntry: Decodable, Sendable, CustomStringConvertible {
    var file: String
    var width: Int?
    var height: Int?
    var channels: Int?
    var expected: String?
    var tolerance: Int?
    /// For bad files: the `ImageError` case name the decoder must throw.
    var error: String?

    var description: String { file }
}

/// Access to the committed fixture files.
enum FixtureCatalog {
    private struct Manifest: Decodable {
        var fixtures: [FixtureEntry]
    }

    /// The fixture directory inside the test bundle.
    static var directory: URL {
        get throws {
            guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
                throw CocoaError(.fileNoSuchFile)
            }
            return url
        }
    }

    /// Every manifest entry.
    static func all() throws -> [FixtureEntry] {
        let data = try Data(contentsOf: directory.appendingPathComponent("manifest.json"))
        return try JSONDecoder().decode(Manifest.self, from: data).fixtures
    }

    /// Entries that must decode.
    static func decodable() throws -> [FixtureEntry] { try all().filter { $0.error == nil } }

    /// Entries that must fail.
    static func broken() throws -> [FixtureEntry] { try all().filter { $0.error != nil } }

    /// The path of a fixture file.
    static func path(_ name: String) throws -> String {
        try directory.appendingPathComponent(name).path
    }

    /// The bytes of a fixture file.
    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
    }
}

extension ImageError {
    /// The case name, as used in manifest.json.
    var caseName: String {
        switch self {
        case .fileUnreadable: "fileUnreadable"
        case .empty: "empty"
        case .fileTooLarge: "fileTooLarge"
        case .unsupportedFormat: "unsupportedFormat"
        case .truncated: "truncated"
        case .corrupt: "corrupt"
        case .tooLarge: "tooLarge"
        case .outOfMemory: "outOfMemory"
        }
    }
}
