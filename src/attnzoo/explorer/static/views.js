// attnzoo explorer, part 2: one drawing per kind of view, the formation slider, the live form.
"use strict";

// Buttons that pick a step (a word, a glimpse, a pointer step); calls pick(index) and marks the active one.
function stepButtons(parent, labels, pick) {
  const bar = document.createElement("div");
  bar.className = "steps";
  const buttons = labels.map((text, index) => {
    const button = document.createElement("button");
    button.textContent = text;
    button.className = "step";
    button.onclick = () => choose(index);
    bar.appendChild(button);
    return button;
  });
  function choose(index) {
    buttons.forEach((button, i) => button.classList.toggle("active", i === index));
    pick(index);
  }
  parent.appendChild(bar);
  return choose;
}

// Clear an svg (keeps the element, so its download buttons stay bound), draw, fit.
function redraw(svg, draw) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  draw();
  fit(svg);
}

const DRAW = {
  alignment(view, box, svg) {
    const marks = {};
    (view.gold || []).forEach((j, i) => { if (j >= 0) marks[i] = j; });
    redraw(svg, () => heatmap(svg, view.weights, view.target, view.source, 0, 0,
      {marks: marks, rowName: "target", columnName: "source"}));
  },

  heads(view, box, svg) {
    const names = Object.keys(view.groups);
    const select = document.createElement("select");
    select.className = "group";
    names.forEach((name) => select.appendChild(new Option(name.replace("_", " "), name)));
    box.insertBefore(select, svg);
    let chosen = {layer: 0, head: 0};
    function draw() {
      const group = view.groups[select.value];
      redraw(svg, () => {
        const small = 5, layers = group.weights;
        let x = 0;
        layers.forEach((heads, l) => heads.forEach((matrix, h) => {
          const size = Math.max(matrix.length, matrix[0].length) * small + 14;
          const gx = 40 + h * size, gy = 16 + l * size;
          label(svg, gx, gy - 3, `L${l + 1} H${h + 1}`, {"font-size": 9});
          heatmap(svg, matrix, group.queries, group.keys, gx, gy, {cell: small, labels: false});
          const frame = el("rect", {x: gx - 1, y: gy - 1, width: matrix[0].length * small + 1, height: matrix.length * small + 1,
            fill: "transparent", stroke: l === chosen.layer && h === chosen.head ? "#e6550d" : "#999", class: "head-grid", "data-layer": l, "data-head": h}, svg);
          frame.addEventListener("click", () => { chosen = {layer: l, head: h}; draw(); });
          x = Math.max(x, gx + size);
        }));
        const big = layers[chosen.layer][chosen.head];
        label(svg, x + 20, 12, `${select.value.replace("_", " ")}, layer ${chosen.layer + 1}, head ${chosen.head + 1}`);
        heatmap(svg, big, group.queries, group.keys, x + 20, 16, {rowName: "query", columnName: "key"});
      });
    }
    select.onchange = draw;
    draw();
  },

  image(view, box, svg) {
    const channels = view.image, height = channels[0].length, width = channels[0][0].length;
    const pixel = Math.max(2, Math.floor(280 / Math.max(height, width)));
    function draw(step) {
      redraw(svg, () => {
        const g = el("g", {transform: "translate(10,10)"}, svg);
        for (let r = 0; r < height; r++) for (let c = 0; c < width; c++) {
          const fill = channels.length === 3
            ? `rgb(${channels.map((ch) => Math.round(255 * ch[r][c])).join(",")})`
            : `rgb(${Array(3).fill(Math.round(255 * (1 - channels[0][r][c]))).join(",")})`;
          el("rect", {x: c * pixel, y: r * pixel, width: pixel, height: pixel, fill: fill}, g);
        }
        const entry = view.steps[step] || {label: "(no step)"};
        if (entry.map) {
          const rows = entry.map.length, cols = entry.map[0].length, largest = Math.max(...entry.map.flat(), 1e-9);
          entry.map.forEach((row, r) => row.forEach((value, c) => el("rect", {x: c * width * pixel / cols,
            y: r * height * pixel / rows, width: width * pixel / cols, height: height * pixel / rows,
            fill: "black", "fill-opacity": (0.75 * (1 - value / largest)).toFixed(3), class: "overlay"}, g)));  // dark where α is low
        }
        const path = view.steps.slice(0, step + 1).filter((s) => s.boxes).map((s) => s.boxes[0]);
        if (path.length) el("polyline", {points: path.map(([t, l, h, w]) => `${(l + w / 2) * pixel},${(t + h / 2) * pixel}`).join(" "),
          fill: "none", stroke: "#3182bd", "stroke-width": 2}, g);
        if (entry.gold) {
          const [t, l, h, w] = entry.gold;
          el("rect", {x: l * pixel, y: t * pixel, width: w * pixel, height: h * pixel, fill: "none", stroke: "#31a354",
            "stroke-width": 2, "stroke-dasharray": "4,3", class: "gold"}, g);
        }
        (entry.boxes || []).forEach(([t, l, h, w], k) => el("rect", {x: l * pixel, y: t * pixel, width: w * pixel, height: h * pixel,
          fill: "none", stroke: ["#e31a1c", "#ff7f00", "#fdbf6f"][Math.min(k, 2)], "stroke-width": 2,
          "stroke-dasharray": k ? "5,3" : "none", class: "box"}, g));
        label(svg, 10, height * pixel + 26, entry.label);
      });
    }
    if (view.steps.length) stepButtons(box, view.steps.map((s) => s.label), draw)(0); else draw(0);
  },

  memory(view, box, svg) {
    redraw(svg, () => {
      let x = 0;
      for (const [name, matrix] of Object.entries(view.weightings)) {
        const transposed = view.slots.map((_, n) => matrix.map((row) => row[n]));  // slots x steps, as Graves Fig. 6
        label(svg, x + 90, 12, `${name} weighting`, {"font-weight": "bold"});
        const size = heatmap(svg, transposed, view.slots, view.steps, x, 16, {cell: 12, rowName: "slot", columnName: "step"});
        x += size.width + 20;
      }
    });
  },

  pointer(view, box, svg) {
    const plane = view.points[0].length === 2;
    function draw(step) {
      redraw(svg, () => {
        const marks = {};
        view.chosen.forEach((j, i) => { marks[i] = j; });
        const rows = view.chosen.map((_, i) => `step ${i + 1}`);
        const size = heatmap(svg, view.weights, rows, view.candidates, 0, 0, {marks: marks, rowName: "", columnName: "input"});
        if (!plane) return;
        const g = el("g", {transform: `translate(${size.width + 30},70)`, class: "plane"}, svg);
        el("rect", {x: 0, y: 0, width: 240, height: 240, fill: "none", stroke: "#ccc"}, g);
        const at = (p) => [10 + 220 * p[0], 230 - 220 * p[1]];
        const visited = view.chosen.slice(0, step + 1).filter((j) => j < view.points.length).map((j) => at(view.points[j]));
        if (visited.length) el("polyline", {points: visited.map((p) => p.join(",")).join(" "), fill: "none", stroke: "#3182bd"}, g);
        view.points.forEach((p, j) => {
          const [px, py] = at(p), weight = view.weights[step][j];
          el("circle", {cx: px, cy: py, r: 2 + 12 * Math.sqrt(weight), fill: "#e6550d", "fill-opacity": 0.6,
            stroke: j === view.chosen[step] ? "black" : "none", "stroke-width": 2, class: "point", "data-weight": weight}, g);
          label(g, px + 4, py - 4, view.candidates[j], {"font-size": 9});
        });
        label(g, 0, 256, `step ${step + 1}: chose ${view.candidates[view.chosen[step]]}`);
      });
    }
    if (plane) stepButtons(box, view.chosen.map((_, i) => `${i + 1}`), draw)(0); else draw(0);
  },
};

// Draw a list of views into container (replacing what was there); name prefixes the download files.
function showViews(container, views, name) {
  container.innerHTML = "";
  if (!views.length) container.textContent = "This model has no attention to show.";
  views.forEach((view, index) => {
    const box = document.createElement("div");
    box.className = "view";
    box.dataset.kind = view.kind;
    const heading = document.createElement("h3");
    heading.textContent = `${view.kind}: ${view.title}`;
    const toolbar = document.createElement("div");
    toolbar.className = "toolbar";
    box.append(heading, toolbar);
    container.appendChild(box);
    const svg = newSvg(box);
    downloadButtons(toolbar, svg, `${name}-${index + 1}-${view.kind}`);
    DRAW[view.kind](view, box, svg);
  });
}

// The formation section: a slider over the recorded validations, the scores chart, the probe views.
function showFormation(formation) {
  const section = document.getElementById("formation");
  const snapshots = formation.snapshots;
  if (!snapshots.length) return;
  section.hidden = false;
  const slider = document.getElementById("formation-slider");
  slider.max = snapshots.length - 1;
  slider.value = snapshots.length - 1;
  const chart = document.getElementById("formation-chart");
  function update() {
    const snapshot = snapshots[Number(slider.value)];
    const scores = Object.entries(snapshot.scores).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(", ");
    document.getElementById("formation-step").textContent = `step ${snapshot.step}: ${scores}`;
    drawChart(chart, snapshots, Number(slider.value));
    showViews(document.getElementById("formation-views"), snapshot.views, `step${snapshot.step}`);
  }
  slider.oninput = update;
  update();
  playButton(slider, update);
}

// The play button: step the slider from the first snapshot to the last, one every 700 ms.
function playButton(slider, update) {
  const button = document.getElementById("formation-play");
  let timer = null;
  function stop() { clearInterval(timer); timer = null; button.textContent = "▶ play"; }
  button.onclick = () => {
    if (timer !== null) { stop(); return; }
    if (Number(slider.value) >= Number(slider.max)) slider.value = 0;
    button.textContent = "■ stop";
    update();
    timer = setInterval(() => {
      if (Number(slider.value) >= Number(slider.max)) { stop(); return; }
      slider.value = Number(slider.value) + 1;
      update();
    }, 700);
  };
}

// Entropy (and accuracy) per snapshot as lines, with the slider's snapshot marked.
function drawChart(svg, snapshots, current) {
  redraw(svg, () => {
    const names = [...new Set(snapshots.flatMap((s) => Object.keys(s.scores)))];
    const width = 360, height = 120, n = Math.max(snapshots.length - 1, 1);
    const colours = {entropy: "#3182bd", accuracy: "#31a354"};
    names.forEach((name, k) => {
      const values = snapshots.map((s) => s.scores[name]);
      const top = Math.max(...values.filter((v) => v !== undefined), 1e-9);
      const points = values.map((v, i) => v === undefined ? null : `${40 + width * i / n},${10 + height * (1 - v / top)}`).filter(Boolean);
      el("polyline", {points: points.join(" "), fill: "none", stroke: colours[name] || "#756bb1", "stroke-width": 2}, svg);
      label(svg, 40 + width + 8, 20 + 14 * k, `${name} (max ${top.toFixed(2)})`, {fill: colours[name] || "#756bb1"});
    });
    const x = 40 + width * current / n;
    el("line", {x1: x, x2: x, y1: 5, y2: height + 15, stroke: "#e6550d", class: "chart-marker"}, svg);
    label(svg, 40, height + 28, `step ${snapshots[0].step}`);
    label(svg, 40 + width, height + 28, `step ${snapshots[snapshots.length - 1].step}`, {"text-anchor": "end"});
  });
}

// The live form of `attnzoo serve`: send the input, draw the answer's views, or show its error.
function liveForm(data) {
  const form = document.getElementById("live");
  form.hidden = false;
  document.getElementById("live-" + data.input).hidden = false;
  form.onsubmit = async (event) => {
    event.preventDefault();
    const message = document.getElementById("message");
    message.className = "";
    message.textContent = "running …";
    try {
      const response = await fetch("api/explore", {method: "POST", body: new FormData(form)});
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.error || `error ${response.status}`);
      message.textContent = answer.views.map((view) => view.title).join("\n");
      showViews(document.getElementById("views"), answer.views, "live");
    } catch (error) {
      message.className = "error";
      message.textContent = String(error.message || error);
    }
  };
}

const DATA = JSON.parse(document.getElementById("attnzoo-data").textContent);
document.getElementById("subtitle").textContent = DATA.subtitle;
showViews(document.getElementById("views"), DATA.views, DATA.name);
if (DATA.formation) showFormation(DATA.formation);
if (DATA.live) liveForm(DATA);
window.attnzoo = {svgText, pngBlob, showViews, data: DATA};
