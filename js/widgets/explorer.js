export default { render({ el }) { el.textContent = "explorer: coming"; } };
