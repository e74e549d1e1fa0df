import './base.css';
import './gpu.css';
import 'uplot/dist/uPlot.min.css';
