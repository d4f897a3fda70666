// libpng's simplified API (png_image_*): every libpng error is caught inside libpng by its own setjmp and returned as
// a failure code, so no longjmp ever crosses a Swift frame.
#include <png.h>
