/// MoonImage: the image layer that envs and plots both use — `RGB`, `RGBImage`, the raster `Canvas`, the
/// `BitmapFont` (no asset files) and `PNG` files through the system's libpng (written through MoonTensor's `AtomicFile`).
///
///   var c = Canvas(width: 64, height: 64, background: .table)
///   c.text("24", x: 2, y: 2, scale: 2, .white)
///   try PNG.write(c.image, to: "frame.png"); let back = try PNG.decode(bytes)
public enum MoonImageInfo {}
