// attnzoo explorer, part 1: SVG helpers, the heat map (hover + highlight), downloads. No library, no network.
"use strict";
const SVG_NS = "http://www.w3.org/2000/svg";
const FONT = "11px DejaVu Sans, Arial, sans-serif";

// A new SVG element with attributes, appended to parent (if given).
function el(tag, attributes, parent) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

// An SVG text element.
function label(parent, x, y, text, attributes) {
  const node = el("text", Object.assign({x: x, y: y, "font-size": 11, fill: "#222"}, attributes || {}), parent);
  node.textContent = text;
  return node;
}

// Weight in [0, 1] -> colour from white to dark blue (values are fills, so a downloaded SVG keeps them).
function colour(value) {
  const v = Math.max(0, Math.min(1, value));
  const from = [247, 251, 255], to = [8, 48, 107];
  const mix = from.map((c, i) => Math.round(c + (to[i] - c) * Math.sqrt(v)));
  return `rgb(${mix[0]},${mix[1]},${mix[2]})`;
}

// Tokens longer than a few characters are cut for the axes (the tooltip shows them whole).
function short(text) {
  const s = String(text);
  return s.length > 28 ? s.slice(0, 27) + "…" : s;
}

// The shared tooltip (one div for the page).
function tooltip(text, event) {
  const tip = document.getElementById("tooltip");
  if (text === null) { tip.style.display = "none"; return; }
  tip.textContent = text;
  tip.style.display = "block";
  tip.style.left = (event.pageX + 12) + "px";
  tip.style.top = (event.pageY + 12) + "px";
}

// A heat map of matrix (rows x columns) at (x, y) in svg: row labels on the left, column labels on top.
// Hovering a cell shows its weight; hovering a row label highlights the columns that row attends to
// (weight >= half the row's largest), both the cells and the column labels.
// options: cell (px), labels (bool), marks ({row: column} outlined cells, e.g. chosen or gold), name
// (what a row attends to, for the tooltip). Returns {width, height}.
function heatmap(svg, matrix, rowLabels, columnLabels, x, y, options) {
  const o = Object.assign({cell: 18, labels: true, marks: {}, rowName: "row", columnName: "column"}, options || {});
  const longest = (labels) => Math.max(1, ...labels.map((text) => short(text).length));
  const left = o.labels ? 12 + 6.5 * longest(rowLabels) : 0;  // room for the row labels (about 6.5 px a character)
  const top = o.labels ? 14 + 5.6 * longest(columnLabels) : 0;  // and for the column labels, turned 60°
  const group = el("g", {transform: `translate(${x},${y})`, class: "heatmap"}, svg);
  const columnNodes = columnLabels.map((text, j) => {
    if (!o.labels) return null;
    const cx = left + j * o.cell + o.cell / 2;
    const node = label(group, cx, top - 6, short(text), {transform: `rotate(-60 ${cx} ${top - 6})`, class: "column-label", "data-col": j});
    return node;
  });
  const cells = matrix.map((row, i) => row.map((value, j) => {
    const rect = el("rect", {x: left + j * o.cell, y: top + i * o.cell, width: o.cell - 1, height: o.cell - 1,
      fill: colour(value), class: "cell", "data-row": i, "data-col": j, "data-weight": value}, group);
    rect.addEventListener("mousemove", (event) => tooltip(
      `${o.rowName} ${rowLabels[i]} → ${o.columnName} ${columnLabels[j]}: ${value.toFixed(3)}`, event));
    rect.addEventListener("mouseleave", (event) => tooltip(null, event));
    return rect;
  }));
  for (const [i, j] of Object.entries(o.marks)) {
    if (j === null || j < 0) continue;
    el("rect", {x: left + j * o.cell + 1, y: top + i * o.cell + 1, width: o.cell - 3, height: o.cell - 3,
      fill: "none", stroke: "#e6550d", "stroke-width": 2, class: "mark", "pointer-events": "none"}, group);
  }
  if (o.labels) rowLabels.forEach((text, i) => {
    const node = label(group, left - 6, top + i * o.cell + o.cell * 0.7, short(text), {"text-anchor": "end", class: "row-label", "data-row": i});
    node.addEventListener("mouseenter", () => highlight(matrix[i], cells[i], columnNodes, node, true));
    node.addEventListener("mouseleave", () => highlight(matrix[i], cells[i], columnNodes, node, false));
  });
  return {width: left + columnLabels.length * o.cell, height: top + rowLabels.length * o.cell};
}

// Mark (on) or unmark the cells and column labels a row attends to: weight >= half the row's largest.
function highlight(row, rowCells, columnNodes, rowNode, on) {
  const largest = Math.max(...row);
  rowNode.classList.toggle("highlight", on);
  row.forEach((value, j) => {
    const strong = on && largest > 0 && value >= largest / 2;
    rowCells[j].classList.toggle("highlight", strong);
    if (columnNodes[j]) columnNodes[j].classList.toggle("highlight", strong);
  });
}

// A new <svg> for a view, sized later by fit().
function newSvg(parent) {
  return el("svg", {xmlns: SVG_NS, "font-family": "DejaVu Sans, Arial, sans-serif", width: 10, height: 10}, parent);
}

// Size an svg to its content (with a margin) and paint a white background for the downloads.
function fit(svg) {
  const box = svg.getBBox();
  const width = Math.ceil(box.x + box.width + 10), height = Math.ceil(box.y + box.height + 10);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  const background = el("rect", {x: 0, y: 0, width: width, height: height, fill: "white"});
  svg.insertBefore(background, svg.firstChild);
}

// The view's SVG as a standalone document.
function svgText(svg) {
  return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(svg);
}

// The view's SVG drawn on a canvas, as a PNG blob (a Promise).
function pngBlob(svg) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => {
      const canvas = document.createElement("canvas");
      canvas.width = svg.width.baseVal.value * 2;
      canvas.height = svg.height.baseVal.value * 2;
      const context = canvas.getContext("2d");
      context.scale(2, 2);
      context.drawImage(image, 0, 0);
      canvas.toBlob(resolve, "image/png");
    };
    image.onerror = reject;
    image.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svgText(svg));
  });
}

// Save a blob under a file name (a download; nothing leaves the machine).
function save(blob, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

// The "download PNG" and "download SVG" buttons of a view's svg.
function downloadButtons(toolbar, svg, name) {
  const png = document.createElement("button");
  png.textContent = "download PNG";
  png.className = "download-png";
  png.onclick = () => pngBlob(svg).then((blob) => save(blob, name + ".png"));
  const vector = document.createElement("button");
  vector.textContent = "download SVG";
  vector.className = "download-svg";
  vector.onclick = () => save(new Blob([svgText(svg)], {type: "image/svg+xml"}), name + ".svg");
  toolbar.append(png, vector);
}
