/// Every target's cells where seams were inserted: the start's own features instead of the input's
/// features sampled through the map (docs/spec.md §3.6, "Inserted pixels").
///
/// Why: an inserted pixel sits halfway between its two neighbours, in R0 (their average) and in the map
/// (a half-pixel position). Sampled there, the input's features describe a blend of two columns; where the
/// columns are textured (a tree's bark) no image has such features, and asked for them the reconstruction
/// drew the trunks the seams went through wide and hazy, a semi-transparent smear (Path at width 140 %),
/// where R0 and pixel seam carving show them crisp. R0's own features describe the inserted pixels as
/// they are. Cells away from inserted pixels keep the sampled targets; where seams are inserted densely
/// (40 % of a width) most cells are near one, and there the output stays close to R0.
enum InsertionAnchor {
    /// For each cell of the ⌊h/s⌋ × ⌊w/s⌋ target of a layer of stride `s`: 1 where the cell or a
    /// neighbouring one holds a pixel the seams inserted (`SourceMap.inserted`), else 0.
    static func weights(map: SourceMap, stride s: Int) -> [Float] {
        EdgeAnchor.largestAroundCells(map.inserted.map { $0 ? 1 : 0 }, width: map.width, height: map.height, stride: s)
    }
}
