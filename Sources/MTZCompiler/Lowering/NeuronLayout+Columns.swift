import MTZCore

extension NeuronLayout {
    /// Values in one stored weight row (`taps × inChannels`).
    var rowLength: Int { taps * inChannels }

    /// The shared input channels of every tap, `0..<sharedChannels`.
    var sharedRange: Range<Int> { 0..<sharedChannels }

    /// The task-specific input channels of every tap, `sharedChannels..<inChannels`.
    var specificRange: Range<Int> { sharedChannels..<inChannels }

    /// Column indices (within a stored row) of `channels` in every tap, tap by tap: the order in
    /// which a weight tensor sliced to those channels lists them.
    func columns(_ channels: Range<Int>) -> [Int] {
        var result: [Int] = []
        result.reserveCapacity(taps * channels.count)
        for t in 0..<taps {
            for c in channels { result.append(t * inChannels + c) }
        }
        return result
    }

    /// Rows `rows` of a row-major `[out][rowLength]` matrix restricted to `columns`, row by row.
    func gather(_ matrix: [Float], rows: Range<Int>, columns: [Int]) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(rows.count * columns.count)
        for o in rows {
            let base = o * rowLength
            for c in columns { out.append(matrix[base + c]) }
        }
        return out
    }

    /// Writes `values` (laid out as `gather` returns them) into rows `rows` × `columns` of `matrix`.
    func scatter(_ values: [Float], into matrix: inout [Float], rows: Range<Int>, columns: [Int]) {
        var i = 0
        for o in rows {
            let base = o * rowLength
            for c in columns {
                matrix[base + c] = values[i]
                i += 1
            }
        }
    }
}
