internal import CLibPQ

/// The values of a PGresult copied into one Swift buffer, so the PGresult can be cleared at once.
final class ResultStorage: Sendable {
    let columns: RowDescription
    let rowCount: Int
    /// All non-NULL values back to back.
    let buffer: [UInt8]
    /// Start of each cell in `buffer`, row-major.
    let offsets: [Int]
    /// Length of each cell, -1 for NULL.
    let lengths: [Int32]

    static let empty = ResultStorage(columns: RowDescription(names: [], types: []), rowCount: 0, buffer: [], offsets: [], lengths: [])

    init(columns: RowDescription, rowCount: Int, buffer: [UInt8], offsets: [Int], lengths: [Int32]) {
        self.columns = columns
        self.rowCount = rowCount
        self.buffer = buffer
        self.offsets = offsets
        self.lengths = lengths
    }

    /// Copies every value out of `result`; reuses `columns` when given and matching.
    convenience init(result: OpaquePointer, columns known: RowDescription? = nil) {
        let columns = (known?.matches(result: result) ?? false) ? known! : RowDescription(result: result)
        let rows = Int(PQntuples(result))
        let fields = columns.count
        var offsets: [Int] = []
        var lengths: [Int32] = []
        offsets.reserveCapacity(rows * fields)
        lengths.reserveCapacity(rows * fields)
        var total = 0
        for row in 0..<Int32(rows) {
            for column in 0..<Int32(fields) {
                if PQgetisnull(result, row, column) != 0 {
                    offsets.append(total)
                    lengths.append(-1)
                } else {
                    let length = PQgetlength(result, row, column)
                    offsets.append(total)
                    lengths.append(length)
                    total += Int(length)
                }
            }
        }
        var buffer = [UInt8](repeating: 0, count: total)
        if total > 0 {
            buffer.withUnsafeMutableBytes { destination in
                var index = 0
                for row in 0..<Int32(rows) {
                    for column in 0..<Int32(fields) {
                        let length = Int(lengths[index])
                        if length > 0, let source = PQgetvalue(result, row, column) {
                            (destination.baseAddress! + offsets[index]).copyMemory(from: source, byteCount: length)
                        }
                        index += 1
                    }
                }
            }
        }
        self.init(columns: columns, rowCount: rows, buffer: buffer, offsets: offsets, lengths: lengths)
    }

    /// The bytes of one cell, nil for NULL.
    func value(row: Int, column: Int) -> ArraySlice<UInt8>? {
        let index = row * columns.count + column
        let length = Int(lengths[index])
        if length < 0 { return nil }
        let start = offsets[index]
        return buffer[start..<(start + length)]
    }
}
