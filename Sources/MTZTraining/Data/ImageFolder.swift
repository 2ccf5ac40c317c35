import Foundation
import MTZCore
import MTZImage

/// Labelled images from a directory with one sub-directory per class — `DIR/<class>/<image>` —
/// for users who retrain or zip on their own data.
///
/// Classes are the sub-directories in name order (label = index). Every PNG or JPEG file in them
/// is decoded, converted to grey and fitted to the model's input size with its resize mode; other
/// files and hidden entries are skipped. Images are listed class by class, each class's files in
/// name order, then interleaved deterministically so that a held-out tail holds every class.
public enum ImageFolder {
    /// The most images one folder may hold.
    public static let maxImages = 1_000_000
    /// The most classes (labels are bytes).
    public static let maxClasses = 256

    /// Why a folder could not be loaded.
    public struct Failure: Error, CustomStringConvertible, Sendable, Equatable {
        public var description: String
    }

    /// Loads `path` for a model whose input is `input` (which must be grey: the training engine
    /// trains on grey images).
    /// - Returns: the images (`input.height × input.width`, grey levels) and the class names.
    /// - Throws: `Failure` naming the folder or the file that could not be used.
    public static func load(_ path: String, for input: InputSpec) throws(Failure) -> (images: LabeledImages, classes: [String]) {
        guard input.format == .gray else {
            throw Failure(description: "\(path): the model takes \(input.format.name) images; training on an image folder needs a grey model")
        }
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Failure(description: "\(path) is not a directory (expected one sub-directory of images per class)")
        }
        let classes = ((try? fm.contentsOfDirectory(atPath: path)) ?? []).filter { name in
            var dir: ObjCBool = false
            return !name.hasPrefix(".") && fm.fileExists(atPath: "\(path)/\(name)", isDirectory: &dir) && dir.boolValue
        }.sorted()
        guard !classes.isEmpty else { throw Failure(description: "\(path) has no class sub-directories") }
        guard classes.count <= maxClasses else { throw Failure(description: "\(path) has \(classes.count) classes; at most \(maxClasses)") }
        // Grey levels in [0, 1] at the model's size: the model's own resizing, no normalisation.
        let fit = Preprocessor(spec: InputSpec(width: input.width, height: input.height, format: .gray, mean: [0], std: [1], resize: input.resize))
        var perClass: [[[UInt8]]] = []
        var total = 0
        for name in classes {
            let files = ((try? fm.contentsOfDirectory(atPath: "\(path)/\(name)")) ?? []).filter { file in
                let lower = file.lowercased()
                return !file.hasPrefix(".") && [".png", ".jpg", ".jpeg"].contains { lower.hasSuffix($0) }
            }.sorted()
            var images: [[UInt8]] = []
            for file in files {
                total += 1
                guard total <= maxImages else { throw Failure(description: "\(path) holds more than \(maxImages) images") }
                let image: Image
                do {
                    image = try ImageDecoder.decode(contentsOf: "\(path)/\(name)/\(file)")
                } catch {
                    throw Failure(description: "\(path)/\(name)/\(file): \(error)")
                }
                images.append(fit.run(image).map { UInt8(max(0, min(255, ($0 * 255).rounded()))) })
            }
            perClass.append(images)
        }
        guard total > 0 else { throw Failure(description: "\(path) has no PNG or JPEG images in its class sub-directories") }
        // Round-robin over the classes, so every prefix and suffix mixes them.
        var pixels: [UInt8] = []
        var labels: [UInt8] = []
        pixels.reserveCapacity(total * input.width * input.height)
        for i in 0..<(perClass.map(\.count).max() ?? 0) {
            for (label, images) in perClass.enumerated() where i < images.count {
                pixels += images[i]
                labels.append(UInt8(label))
            }
        }
        return (LabeledImages(rows: input.height, cols: input.width, pixels: pixels, labels: labels), classes)
    }
}
