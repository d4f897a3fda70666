/// A simple top-down picture of the household room (moonlab's own, not ALFRED's frames): one tile per receptacle in
/// the room's listing order, coloured by kind (darker when closed), the objects the agent has seen as coloured
/// squares, the agent's receptacle framed in red, the held object in the bottom bar. Names are written when they fit.
enum HouseholdRender {
    static let floor = RGB(hex: 0xE8E0D0)
    static let wall = RGB(hex: 0x5A4A3A)
    static let agent = RGB(200, 16, 32)

    static func color(receptacleType t: Int, open: Bool, openable: Bool) -> RGB {
        let name = HouseholdTypes.shared.receptacleNames[t]
        let base: RGB
        switch name {
        case "fridge", "microwave", "toaster", "coffeemachine", "stoveburner": base = RGB(hex: 0x9AA3AD)
        case "sinkbasin", "bathtubbasin", "toilet": base = RGB(hex: 0x7FB2D9)
        case "bed", "sofa", "armchair", "ottoman": base = RGB(hex: 0x8E7CC3)
        case "garbagecan", "laundryhamper": base = RGB(hex: 0x6E8B5A)
        default: base = openable ? RGB(hex: 0xA0703C) : RGB(hex: 0xD2B48C)
        }
        if openable && !open { return RGB(base.r / 2 + 20, base.g / 2 + 20, base.b / 2 + 20) }
        return base
    }

    static func color(objectType t: Int) -> RGB {
        var h = UInt64(t &+ 1) &* 0x9E37_79B9_7F4A_7C15
        h ^= h >> 29
        return RGB(UInt8(40 + (h & 0xBF)), UInt8(40 + ((h >> 8) & 0xBF)), UInt8(40 + ((h >> 16) & 0xBF)))
    }

    static func draw(_ w: HouseholdWorld, task: HouseholdTask, on c: inout Canvas) {
        let W = c.width, H = c.height
        let border = max(1, W / 64)
        c.strokeRect(x: 0, y: 0, w: W, h: H, thickness: border, wall)
        let barH = max(6, H / 8)
        let n = max(1, w.receptacleCount)
        var cols = 1
        while cols * cols < n { cols += 1 }
        let rows = (n + cols - 1) / cols
        let gap = max(1, W / 100)
        let areaW = W - 2 * border, areaH = H - 2 * border - barH
        let tw = max(2, (areaW - gap) / cols - gap), th = max(2, (areaH - gap) / rows - gap)
        let t = HouseholdTypes.shared
        for (k, r) in w.listing.enumerated() {
            let x = border + gap + (k % cols) * (tw + gap), y = border + gap + (k / cols) * (th + gap)
            let openable = w.isOpenable(r)
            c.fillRect(x: x, y: y, w: tw, h: th, color(receptacleType: w.receptacleType[r], open: w.opened[r], openable: openable))
            if w.at == r { c.strokeRect(x: x, y: y, w: tw, h: th, thickness: max(1, tw / 12), agent) }
            // the seen, reachable contents
            var textBottom = y
            let label = w.name(receptacle: r)
            if BitmapFont.width(label) <= tw - 2 && th >= 20 {
                _ = c.text(label, x: x + 1, y: y + 1, .black)
                textBottom = y + BitmapFont.lineHeight(scale: 1)
            }
            guard w.seen[r] && w.isAccessible(r) else { continue }
            let s = max(1, min(tw, th) / 6)
            var ox = x + max(1, s / 2), oy = max(textBottom + 1, y + max(1, s / 2))
            for o in 0..<w.objectCount where w.location[o] == r {
                if ox + s > x + tw { ox = x + max(1, s / 2); oy += s + 1 }
                if oy + s > y + th { break }
                c.fillRect(x: ox, y: oy, w: s, h: s, t.toggleable[w.objectType[o]] && w.flags[o].contains(.on) ? RGB(255, 230, 0) : color(objectType: w.objectType[o]))
                ox += s + 1
            }
        }
        // bottom bar: the held object
        let by = H - border - barH
        c.fillRect(x: border, y: by, w: W - 2 * border, h: barH, RGB(hex: 0x3A3A3A))
        if w.held >= 0 {
            let s = max(2, barH - 4)
            c.fillRect(x: border + 2, y: by + 2, w: s, h: s, color(objectType: w.objectType[w.held]))
            let label = w.name(object: w.held)
            if barH >= 10 && BitmapFont.width(label) <= W - 2 * border - s - 8 {
                _ = c.text(label, x: border + s + 6, y: by + (barH - 8) / 2, .white)
            }
        }
    }
}
