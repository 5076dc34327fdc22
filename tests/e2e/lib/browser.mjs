// A real headless browser for the e2e suite: Debian's `chromium` (scripts/lib.sh installs it)
// driven by playwright-core. `launchChromium()` returns null, with the reason, when there is none.
import fs from "node:fs";
import zlib from "node:zlib";

const candidates = [process.env.CHROMIUM_BIN, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter(Boolean);

/** `{ browser }` or `{ skip: reason }`. */
export async function launchChromium() {
  const executablePath = candidates.find((p) => fs.existsSync(p));
  if (!executablePath) return { skip: `no chromium (tried ${candidates.join(", ")}); scripts/lib.sh install_tools installs it` };
  let chromium;
  try {
    ({ chromium } = await import("playwright-core"));
  } catch (e) {
    return { skip: `playwright-core is not installed (npm ci): ${e.message}` };
  }
  // --no-sandbox: the suite may run as root in a container, where chromium's sandbox cannot start.
  const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox", "--disable-gpu"], timeout: 15_000 });
  return { browser };
}

/** Decodes an 8-bit RGB/RGBA non-interlaced PNG (what chromium's screenshots are). */
export function decodePng(buffer) {
  assertSignature(buffer);
  let offset = 8;
  let width, height, channels;
  const idat = [];
  while (offset < buffer.length) {
    const length = buffer.readUInt32BE(offset);
    const type = buffer.toString("latin1", offset + 4, offset + 8);
    const data = buffer.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [depth, color, , , interlace] = data.subarray(8, 13);
      if (depth !== 8 || interlace !== 0 || ![2, 6].includes(color)) throw new Error(`unsupported PNG (depth ${depth}, color ${color}, interlace ${interlace})`);
      channels = color === 6 ? 4 : 3;
    } else if (type === "IDAT") idat.push(data);
    offset += 12 + length;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[y * stride + x - channels] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? pixels[(y - 1) * stride + x - channels] : 0;
      const predictor = [0, a, b, (a + b) >> 1, paeth(a, b, c)][filter];
      pixels[y * stride + x] = (line[x] + predictor) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

function paeth(a, b, c) {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

function assertSignature(buffer) {
  if (!buffer.subarray(0, 8).equals(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]))) throw new Error("not a PNG");
}

/** The share of pixels inside `box` ({x, y, width, height}) that differ from the top-left one. */
export function inkShare({ width, channels, pixels }, box) {
  const at = (x, y) => pixels.subarray((y * width + x) * channels, (y * width + x) * channels + 3);
  const background = at(Math.floor(box.x), Math.floor(box.y));
  let ink = 0, total = 0;
  for (let y = Math.floor(box.y); y < Math.floor(box.y + box.height); y++) {
    for (let x = Math.floor(box.x); x < Math.floor(box.x + box.width); x++) {
      total += 1;
      if (!at(x, y).equals(background)) ink += 1;
    }
  }
  return total === 0 ? 0 : ink / total;
}
